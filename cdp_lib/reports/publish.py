"""After a successful run: refresh the apps' read-only snapshot of the workspace when it is stale."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from cdp_lib.reports.record import error_summary

log = logging.getLogger(__name__)


def file_state(db: str | None) -> tuple | None:
    """Modification time and size of the workspace file and its WAL: did a run write it?"""
    if not db:
        return None
    out = []
    for path in (Path(db), Path(f"{db}.wal")):
        with contextlib.suppress(OSError):
            st = path.stat()
            out.append((path.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def publish_snapshot(db: str | None, changed: bool = True) -> dict | None:
    """Refresh the apps' read-only snapshot when it is stale; report what happened.

    A copy is made only when apps read this workspace (a snapshot exists) and the run changed the
    workspace file. Nothing is copied before any app opened the workspace: apps publish on first
    open (`cdp app`, `snapshots.open_published`). A copy of a large workspace is costly.
    """
    from cdp_lib.kpi import rollup_build
    from cdp_lib.snapshots import current_snapshot, publish

    if not db or not Path(db).is_file():
        return None
    if current_snapshot(db) is None:
        return {"published": False, "reason": "no app reads this workspace yet; apps publish on first open"}
    if not changed:
        return {"published": False, "reason": "workspace unchanged by this run"}
    try:
        result = publish(db, prepare=rollup_build.build)
    except Exception as exc:  # the report stands; apps keep serving the previous snapshot
        log.warning("snapshot publish failed for %s: %s", db, exc)
        return {"published": False, "error": error_summary(exc)}
    return {"published": True, "path": str(result) if result is not None else None}
