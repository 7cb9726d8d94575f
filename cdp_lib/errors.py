"""Exceptions people can act on: what is wrong, where, and what to do next."""


class CdpError(Exception):
    """Base class for every error the workbench raises on purpose."""


class InputError(CdpError, ValueError):
    """A file, parameter or definition a person gave us is not usable as it is."""


class DataError(CdpError, ValueError):
    """The data in the workspace cannot support the requested analysis (prerequisites unmet)."""


class WorkspaceError(CdpError, RuntimeError):
    """The workspace cannot be opened or written (missing file, lock held by another process)."""


class NotComputedError(CdpError, LookupError):
    """An attribute was requested before the command that computes it has run."""


class DeprecatedSpellingWarning(FutureWarning):
    """An old spelling (a parameter name, a unit) still works but has a new name; the message
    names it. A `FutureWarning`, so people running the CLI or a notebook see it by default."""
