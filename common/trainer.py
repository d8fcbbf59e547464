"""``common/trainer.py``: the book's ``Trainer``, from :mod:`xpnet.train`."""

from xpnet.train import Trainer  # noqa: F401
