"""``common/trainer.py``: the book's ``Trainer``, from :mod:`xpnet.train`."""

import numpy as np  # noqa: F401 - the book's module imports it, and its star import hands it on

from xpnet import train

from . import on_backend
from .optimizer import *  # noqa: F403 - as the book's module has them

Trainer = on_backend(train.Trainer)
