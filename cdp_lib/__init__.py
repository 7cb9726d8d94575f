"""cdp_lib: customer-data intelligence over a local (or remote) analytical workspace."""

from cdp_lib.errors import CdpError, DataError, InputError, NotComputedError, WorkspaceError

__version__ = "0.1.0"
__all__ = [
    "CdpError",
    "DataError",
    "InputError",
    "NotComputedError",
    "Workspace",
    "WorkspaceError",
    "__version__",
]


def __getattr__(name: str):
    # `Workspace` on first use, so importing a light module (the CLI, errors) stays light.
    if name == "Workspace":
        from cdp_lib.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'cdp_lib' has no attribute {name!r}")
