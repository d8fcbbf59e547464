"""The book's import path for a checkout: ``sys.path.append(os.pardir)``, then ``from dataset.mnist import load_mnist``.

Not installed: a wheel holds only ``xpnet``, so the books' own ``dataset``
folders stay theirs. The loader itself is :mod:`xpnet.datasets.mnist`.
"""
