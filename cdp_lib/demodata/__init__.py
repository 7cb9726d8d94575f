"""Demo data: a synthetic store with known ground truth, and the real CDNOW purchase log."""

from cdp_lib.demodata.cdnow import CDNOW_MASTER_ROWS, read_cdnow, write_cdnow
from cdp_lib.demodata.params import PARAMS, StoreParams
from cdp_lib.demodata.store import StoreSummary, generate_store

__all__ = [
    "CDNOW_MASTER_ROWS",
    "PARAMS",
    "StoreParams",
    "StoreSummary",
    "generate_store",
    "read_cdnow",
    "write_cdnow",
]
