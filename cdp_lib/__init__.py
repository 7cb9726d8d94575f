"""cdp_lib: customer-data intelligence over a local (or remote) analytical workspace."""

from cdp_lib.errors import CdpError, DataError, InputError, NotComputedError, WorkspaceError
from cdp_lib.workspace import Workspace

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
