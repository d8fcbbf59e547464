"""Process-wide settings in one object: read with :func:`get_config`, changed with :func:`set_config` or, for a
block, :func:`config_context` (as scikit-learn's ``config_context`` and DeZero's ``using_config``).

======================  =======================================================================
``progress``            draw progress bars on stderr: True, False, or None (on a terminal only)
``mnist_mirrors``       base URLs tried in turn for MNIST's files
``weights_base_url``    base URL of the book's repository at the pinned commit
``timeout_s``           the longest wait for any one answer of a server
``deadline_s``          the longest a whole download may take
======================  =======================================================================

The cache directory is ``$XPNET_CACHE_DIR`` or the platform's user cache (read when used).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from typing import Any

# The book's repository at the commit that the book's accuracies come from. Its master branch has held
# different, retrained ConvNet parameters at the same paths since 2022 (lower accuracies): downloads pin this.
BOOK_COMMIT = "0dda3d1715e2431b76eb4089b60881948853ba2a"


@dataclass(frozen=True)
class Config:
    progress: bool | None = None
    mnist_mirrors: tuple[str, ...] = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    )
    weights_base_url: str = f"https://raw.githubusercontent.com/oreilly-japan/deep-learning-from-scratch/{BOOK_COMMIT}/"
    timeout_s: float = 30.0
    deadline_s: float = 600.0

    @property
    def show_progress(self) -> bool:
        """Whether long work should draw a progress bar (on stderr)."""
        return sys.stderr.isatty() if self.progress is None else self.progress


_lock = threading.Lock()
_current = Config()


def get_config() -> Config:
    """The settings in force."""
    return _current


def set_config(**changes: Any) -> Config:
    """Change settings for the rest of the process; returns the previous ones. TypeError for an unknown name."""
    global _current
    known = {field.name for field in fields(Config)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise TypeError(f"unknown setting {unknown[0]!r}: the settings are {', '.join(sorted(known))}")
    if "mnist_mirrors" in changes:
        changes["mnist_mirrors"] = tuple(changes["mnist_mirrors"])
    with _lock:
        previous, _current = _current, replace(_current, **changes)
    return previous


@contextmanager
def config_context(**changes: Any) -> Iterator[Config]:
    """Settings changed inside the block, restored after it."""
    previous = set_config(**changes)
    try:
        yield get_config()
    finally:
        set_config(**{field.name: getattr(previous, field.name) for field in fields(Config)})
