"""The project's own error types: each carries one line that says what is wrong and where."""


class XpnetError(Exception):
    """Base class: the message is one line meant for the user, printed without a traceback."""


class DivergedError(XpnetError, ValueError):
    """Training diverged: its loss or weights became NaN or infinite."""


class DataError(XpnetError, ValueError):
    """A data or weights file (or a download of one) is missing, malformed or fails its check."""


class BackendError(XpnetError, RuntimeError):
    """The requested array library or device is not available on this machine."""
