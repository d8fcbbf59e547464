"""Fetching files into the user's cache: every mirror in turn, verified, then renamed into place.

pooch does the HTTP (requests, timeouts, tqdm progress bar). The rename is
ours because the checks are ours: MNIST mirrors re-compress their files, so
what is verified is the decompressed content, which pooch's ``known_hash``
(a hash of the downloaded bytes) cannot express.
"""

from __future__ import annotations

import glob
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from .errors import DataError

T = TypeVar("T")

TIMEOUT_S = 30.0
STALE_PART_S = 3600.0  # a .part file untouched this long was left by a killed process: live writers touch theirs
SHOW_PROGRESS: bool | None = None  # None: progress bars on a terminal only; the CLI's --quiet sets False


def show_progress() -> bool:
    """Whether long work should draw a progress bar (on stderr)."""
    return sys.stderr.isatty() if SHOW_PROGRESS is None else SHOW_PROGRESS


def cache_dir(*parts: str) -> Path:
    """``$XPNET_CACHE_DIR`` or the platform's user cache directory for xpnet, joined with ``parts``."""
    root = os.environ.get("XPNET_CACHE_DIR")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("xpnet")
    return Path(root, *parts)


def from_cache(cached: Path, read: Callable[[Path], T]) -> T | None:
    """``read(cached)``, or None when the file is absent or fails ``read``'s checks.

    A damaged copy is reported on stderr with its path and left in place: only
    a verified download replaces it, and nothing uses it meanwhile.
    """
    if not cached.exists():
        return None
    try:
        return read(cached)
    except DataError as err:
        print(f"warning: {err}; downloading a fresh copy", file=sys.stderr)
        return None


def fetch(
    urls: Sequence[str],
    directory: Path,
    verify: Callable[[Path], T],
    *,
    keep_as: Path | None = None,
    by_hand: str,
    timeout: float | None = None,
) -> T:
    """Download the first of ``urls`` whose file passes ``verify``, and return what it returned.

    Each download goes to a temporary file in ``directory``, which ``verify``
    reads, raising :class:`DataError` if it is bad. A file that passed is
    renamed to ``keep_as`` (if given); every other is deleted, so a failed or
    interrupted download never leaves a file that a later run would accept.
    When every URL fails, the DataError lists each URL with its fault, then
    ``by_hand``: how to place the file by hand. A progress bar shows when
    :func:`show_progress` says so; ``timeout`` (default ``TIMEOUT_S``) bounds
    each wait for the server.
    """
    import pooch
    import requests

    timeout = TIMEOUT_S if timeout is None else timeout
    directory.mkdir(parents=True, exist_ok=True)
    faults = []
    for url in urls:
        temporary = _temporary_path(directory, Path(url).name)
        try:
            pooch.HTTPDownloader(progressbar=show_progress(), timeout=timeout)(url, str(temporary), None)
            result = verify(temporary)
            if keep_as is not None:
                os.replace(temporary, keep_as)
            return result
        except requests.RequestException as err:
            faults.append(f"{url}: {_describe(err, timeout)}")
        except DataError as err:  # its message names the temporary file: name the URL instead
            faults.append(f"{url}: {str(err).removeprefix(f'{temporary}: ')}")
        finally:
            temporary.unlink(missing_ok=True)
    raise DataError("download failed: " + "; ".join(faults) + f". {by_hand}")


def _describe(err: Exception, timeout: float) -> str:
    """A few words for what went wrong with a request."""
    import requests

    if isinstance(err, requests.HTTPError) and err.response is not None:
        return f"HTTP {err.response.status_code} {err.response.reason}"
    # a stall in mid-body surfaces as a ConnectionError wrapping urllib3's ReadTimeoutError
    if isinstance(err, requests.Timeout) or "timed out" in str(err):
        return f"no answer within {timeout:g} s"
    if isinstance(err, requests.ConnectionError):
        return "cannot connect"
    return type(err).__name__


def save_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it to ``path``.

    Readers see either the old file or the complete new one, never a part.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_path(path.parent, path.name)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _temporary_path(directory: Path, name: str) -> Path:
    """A new empty ``.name.*.part`` file in ``directory``, after deleting stale ones (see ``STALE_PART_S``)."""
    cutoff = time.time() - STALE_PART_S
    for part in directory.glob(f".{glob.escape(name)}.*.part"):
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink()
        except FileNotFoundError:  # another process deleted it first
            pass
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".part")
    os.close(handle)
    return Path(temporary)
