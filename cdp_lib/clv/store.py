"""The storage edge of CLV: writing the `clv_predictions` table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdp_lib.workspace import Workspace

if TYPE_CHECKING:
    from cdp_lib.clv.run import ClvResult

PREDICTIONS_TABLE = "clv_predictions"


def store_predictions(ws: Workspace, result: ClvResult) -> int:
    """Rewrite `clv_predictions` from a result; returns the number of rows."""
    ws.write_table(PREDICTIONS_TABLE, result.predictions, mode="replace")
    return int(ws.table(PREDICTIONS_TABLE).count().execute())
