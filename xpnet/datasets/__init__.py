"""Data sets, each in its own module, as the book keeps them: ``xpnet.datasets.mnist``."""
