"""MNIST for xpnet, under the book's import path: ``from dataset.mnist import load_mnist``."""
