"""``common/trainer.py``: the book's ``Trainer``, from :mod:`xpnet.train`."""

import numpy as np  # noqa: F401 - the book's module imports it, and its star import hands it on

from xpnet.train import Trainer  # noqa: F401

from .optimizer import *  # noqa: F403 - as the book's module has them
