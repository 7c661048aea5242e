"""Exceptions shared by the whole library.

Every error a user can cause is a :class:`DefectlabError`; the CLI turns these into a one-line message
and exit code 1, the UI into an ``st.error``. Messages say what, where, what was received, and the fix.
"""

__all__ = [
    "ArtifactError",
    "ConflictError",
    "DefectlabError",
    "ImageError",
    "InputError",
    "NotFoundError",
    "PermissionDenied",
    "StorageError",
]


class DefectlabError(Exception):
    """Base class of every error defectlab raises on purpose."""


class InputError(DefectlabError, ValueError):
    """A parameter or input file is not acceptable."""


class ImageError(InputError):
    """An image file could not be used (corrupt, too large, unsupported...).

    Parameters
    ----------
    source : str
        The file (or archive member) the error is about.
    reason : str
        Why it was rejected, in words a plant engineer understands. A
        :class:`defectlab.messages.Message` is kept as it is (so its catalog key and arguments
        reach the user interface).
    """

    def __init__(self, source, reason):
        self.source = str(source)
        self.reason = reason if isinstance(reason, str) else str(reason)
        super().__init__(f"{self.source}: {self.reason}")


class NotFoundError(DefectlabError, LookupError):
    """A project, item, run or user does not exist."""


class ConflictError(DefectlabError):
    """Somebody else changed the same thing meanwhile; nothing was written."""


class PermissionDenied(DefectlabError, PermissionError):
    """The acting user's role does not allow this action."""


class ArtifactError(DefectlabError):
    """A stored model artifact is missing, tampered with or unreadable."""


class StorageError(DefectlabError):
    """The workspace's files cannot be used: a damaged database, a full disk, an unreadable folder."""
