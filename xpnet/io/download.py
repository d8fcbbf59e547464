"""Fetching files into the user's cache: every mirror in turn, verified, then renamed into place.

pooch does the HTTP (requests, timeouts, tqdm progress bar). The rename is
ours because the checks are ours: MNIST mirrors re-compress their files, so
what is verified is the decompressed content, which pooch's ``known_hash``
(a hash of the downloaded bytes) cannot express. So are the limits: each
download may write at most its caller's ``max_bytes`` and must end within
``deadline_s`` of :mod:`xpnet.config` (a server that drips a byte just inside the read timeout
never trips the timeout alone), and any failure of one mirror moves on to
the next.
"""

from __future__ import annotations

import glob
import os
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, TypeVar

from ..config import get_config
from ..errors import DataError
from .files import describe

T = TypeVar("T")

STALE_PART_S = 3600.0  # a .part file untouched this long was left by a killed process: live writers touch theirs
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
    a verified download replaces it, and nothing uses it meanwhile. Anything
    there that is not a regular file (a directory, a FIFO, a symlink, dangling
    or not) is reported and removed, so that the download can take its place.
    """
    if not os.path.lexists(cached):
        return None
    if not stat.S_ISREG(os.lstat(cached).st_mode):
        print(f"warning: {cached} in the cache is not a regular file; replacing it with a fresh copy",
              file=sys.stderr)
        _remove(cached)
        return None
    try:
        return read(cached)
    except DataError as err:
        print(f"warning: damaged cache file {err}; downloading a fresh copy", file=sys.stderr)
        return None


def fetch(
    urls: Sequence[str],
    directory: Path,
    verify: Callable[[Path], T],
    *,
    max_bytes: int,
    keep_as: Path | None = None,
    by_hand: str,
    timeout: float | None = None,
) -> T:
    """Download the first of ``urls`` whose file passes ``verify``, and return what it returned.

    Each download goes to a temporary file in ``directory``, at most
    ``max_bytes`` long and done within the configured ``deadline_s``; ``verify`` reads it,
    raising :class:`DataError` if it is bad. A file that passed is synced and
    renamed to ``keep_as`` (if given); every other is deleted, so a failed or
    interrupted download never leaves a file that a later run would accept.
    Any failure of one URL (refused, slow, too long, bad content, anything
    its bytes make a reader raise) moves on to the next; when every URL
    fails, the DataError lists each URL with its fault, then ``by_hand``:
    how to place the file by hand. A progress bar shows when the
    configuration says so; ``timeout`` (default: the configured ``timeout_s``)
    bounds each wait for the server.
    """
    timeout = get_config().timeout_s if timeout is None else timeout
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        where = f"$XPNET_CACHE_DIR ({os.environ['XPNET_CACHE_DIR']})" if os.environ.get("XPNET_CACHE_DIR") else (
            "the cache folder")
        raise DataError(f"cannot make the folder {directory} to download into ({err.strerror}): {where} must be a "
                        "folder this user can write in") from None
    faults = []
    for url in urls:
        temporary = _temporary_path(directory, Path(url).name)
        try:
            _download(url, temporary, max_bytes, timeout)
            result = verify(temporary)
            if keep_as is not None:
                _finish(temporary)
                os.replace(temporary, keep_as)
            return result
        except DataError as err:  # its message may name the temporary file: name the URL instead
            faults.append(f"{url}: {str(err).removeprefix(f'{temporary}: ')}")
        except Exception as err:
            faults.append(f"{url}: {_describe(err, timeout)}")
        finally:
            temporary.unlink(missing_ok=True)
    raise DataError("download failed: " + "; ".join(faults) + f". {by_hand}")


class _CappedWriter:
    """A file wrapper for pooch's downloader that refuses to grow past ``max_bytes`` or to write once stopped."""

    def __init__(self, file: BinaryIO, max_bytes: int, stopped: threading.Event) -> None:
        self.file, self.max_bytes, self.stopped, self.written = file, max_bytes, stopped, 0

    def write(self, chunk: bytes) -> int:
        if self.stopped.is_set():
            raise DataError("download abandoned")
        self.written += len(chunk)
        if self.written > self.max_bytes:
            raise DataError(f"the server sent more than {self.max_bytes:,} bytes, far more than the file holds")
        return self.file.write(chunk)

    def flush(self) -> None:
        self.file.flush()


def _download(url: str, temporary: Path, max_bytes: int, timeout: float) -> None:
    """Fetch ``url`` into ``temporary`` with pooch, in a thread abandoned after the configured ``deadline_s``."""
    import pooch

    config = get_config()
    stopped = threading.Event()
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            with open(temporary, "wb") as file:
                pooch.HTTPDownloader(progressbar=config.show_progress, timeout=timeout)(
                    url, _CappedWriter(file, max_bytes, stopped), None
                )
            outcome.append(None)
        except BaseException as err:
            outcome.append(err)

    worker = threading.Thread(target=run, name="xpnet-download", daemon=True)
    worker.start()
    worker.join(config.deadline_s)
    if worker.is_alive():
        stopped.set()  # its socket times out on its own; it writes nothing more
        raise DataError(f"not complete within {config.deadline_s:g} s")
    if outcome[0] is not None:
        raise outcome[0]


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
    return describe(err)


def save_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, sync it, then rename it to ``path``.

    Readers see either the old file or the complete new one, never a part,
    even after a power cut. The file gets the permissions the user's umask
    gives new files. A failure to write raises DataError naming ``path``.
    """
    check_writable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_path(path.parent, path.name)
    try:
        write(temporary)
        _finish(temporary)
        os.replace(temporary, path)
    except OSError as err:
        raise DataError(f"{path}: cannot write ({err.strerror or describe(err)})") from None
    finally:
        temporary.unlink(missing_ok=True)


def _remove(path: Path) -> None:
    """Remove ``path``, whatever it is: a directory with what it holds, anything else (a symlink too) itself."""
    if stat.S_ISDIR(os.lstat(path).st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def check_writable(path: str | os.PathLike[str]) -> None:
    """Refuse, with DataError, to write over something at ``path`` that is not a regular file (``/dev/full``), or
    where no file can be made: checked before any work, so that a long run never fails at its end."""
    if os.path.lexists(path) and not os.path.isfile(path):
        raise DataError(f"{path}: there already, and not a regular file: nothing is written over it")
    folder = Path(path).absolute().parent
    while not os.path.lexists(folder):  # the folders still to make are made in the nearest one there
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"{path}: cannot write there ({folder} is not a folder this user can write in)")


def _finish(path: Path) -> None:
    """Give ``path`` the permissions of a new file under the user's umask, and flush it to the disk.

    The flush comes before the rename, so that a power cut after it never
    leaves an empty or partial file under the final name.
    """
    os.chmod(path, 0o666 & ~_umask())
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _umask() -> int:
    """The process's umask, read from ``/proc`` where the system has it (setting it to read it back, the only
    portable way, would change it for every thread for a moment)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temporary_path(directory: Path, name: str) -> Path:
    """A new empty ``.name.*.part`` file in ``directory``, after deleting stale ones (see ``STALE_PART_S``)."""
    cutoff = time.time() - STALE_PART_S
    for part in directory.glob(f".{glob.escape(name)}.*.part"):
        try:
            if part.lstat().st_mtime < cutoff:
                _remove(part)
        except OSError:  # another process deleted it first, or it cannot be: mkstemp picks a new name anyway
            pass
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".part")
    os.close(handle)
    return Path(temporary)
