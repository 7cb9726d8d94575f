"""`cdp activation run`: compute what triggers have to send, store it in the outbox, send it.

The two halves are separate on purpose. `enqueue_due` reads the workspace and, per trigger, stores
the new changes as batches in the outbox and marks them fired in one SQLite transaction; it
never talks to the network. `deliver_pending` (in `deliver`) sends the outbox without touching the
workspace. A crash or `kill -9` at any point therefore loses nothing: before the enqueue commits,
the next run computes the same changes again; after it, the next run sends what is pending.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
from typing import Iterable

import pandas as pd

from cdp_lib.activation.changes import check_trigger, metric_events, rfm_changes, segment_changes
from cdp_lib.activation.files import file_rows, run_path
from cdp_lib.activation.store import Outbox, new_delivery_id
from cdp_lib.activation.triggers import DEFAULT_FOLDER, TriggerParams, load_triggers
from cdp_lib.workspace import Workspace

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TriggerResult:
    trigger: str
    changes: int  # new changes found this run
    deliveries: int  # batches stored in the outbox

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def enqueue_trigger(ws: Workspace, trigger: TriggerParams, outbox: Outbox, run_id: str,
                    library: dict | None = None) -> TriggerResult:
    """Compute one trigger's new changes and store them in the outbox (one transaction)."""
    armed, cursor = outbox.cursor(trigger.name)
    if trigger.kind == "segment":
        changes, nxt = segment_changes(ws, trigger, cursor, library)
    elif trigger.kind == "rfm":
        changes, nxt = rfm_changes(ws, trigger, cursor, library)
    else:
        first_day = pd.Timestamp.now(tz="UTC").normalize()
        changes, nxt = metric_events(ws, trigger, cursor, first_day, library)
    done = outbox.fired_keys(trigger.name, [k for k, _ in changes])
    fresh = [(k, it) for k, it in changes if k not in done]
    if trigger.destination_kind == "webhook":
        size = trigger.batch_size
        batches = [([k for k, _ in part], {"trigger": trigger.name, "delivery_id": new_delivery_id(),
                                           "items": [it for _, it in part]})
                   for part in (fresh[i:i + size] for i in range(0, len(fresh), size))]
        destination = {k: v for k, v in trigger.destination.items()}
    else:
        conf = trigger.destination
        rows, columns = file_rows([it for _, it in fresh], conf["hash_identifiers"], conf["default_country_code"])
        from cdp_lib.project import resolve_path

        # A relative path is taken from the project folder (not from a report's run folder).
        destination = {**conf, "path": run_path(str(resolve_path(conf["path"])), run_id), "columns": columns}
        # The file batch holds final rows (hashed when asked), so raw identifiers of a hashed
        # audience never reach the outbox; the keys still mark every change as fired.
        batches = [([k for k, _ in fresh], {"trigger": trigger.name, "delivery_id": new_delivery_id(),
                                            "items": rows})] if fresh else []
    ids = outbox.enqueue(trigger.name, trigger.destination_kind, destination, batches, trigger.max_attempts,
                         run_id=run_id, cursor=nxt)
    return TriggerResult(trigger.name, len(fresh), len(ids))


def enqueue_due(ws: Workspace, triggers: Iterable[TriggerParams] | str | os.PathLike = DEFAULT_FOLDER,
                outbox: Outbox | None = None, run_id: str | None = None) -> list[TriggerResult]:
    """Validate every enabled trigger against `ws`, then enqueue each one's new changes."""
    if isinstance(triggers, (str, os.PathLike)):
        triggers = load_triggers(triggers)
    triggers = [t for t in triggers if t.enabled]
    outbox = outbox or Outbox.for_workspace(ws.path)
    from cdp_lib.segments.library import load_library

    library = load_library(missing_ok=True)
    for t in triggers:  # everything checked before anything is stored
        check_trigger(ws, t, library)
        if t.destination_kind == "webhook":
            from cdp_lib.activation.deliver import read_secret
            from cdp_lib.errors import InputError

            try:
                read_secret(t.destination)
            except InputError as exc:
                raise InputError(f"{t.source}: {exc}") from None
    run_id = run_id or new_run_id()
    return [enqueue_trigger(ws, t, outbox, run_id, library) for t in triggers]


@dataclasses.dataclass
class ActivationParams:
    """Parameters of one activation run (CLI options, notebook parameters)."""

    triggers: str = DEFAULT_FOLDER
    code: str = "parameters/code"
    max_wait_seconds: float = 60.0
    send: bool = True

    def __post_init__(self) -> None:
        from cdp_lib.errors import InputError

        w = self.max_wait_seconds
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= 86400:
            raise InputError(f"max_wait_seconds must be a number of seconds in [0, 86400], got {w!r}")


def run_activation(db: str | os.PathLike, params: ActivationParams | None = None) -> dict:
    """Everything `cdp activation run` does: validate triggers and handlers, enqueue what the
    triggers have to send, run the handlers, then send the outbox. Returns a summary dict.

    The workspace is open only while triggers are computed and while handler outcomes are
    written; sending never holds it.
    """
    from cdp_lib.activation.code import load_handlers, run_handlers
    from cdp_lib.activation.deliver import deliver_pending
    from cdp_lib.activation.store import run_lock
    from cdp_lib.errors import WorkspaceError

    params = params or ActivationParams()
    triggers = [t for t in load_triggers(params.triggers) if t.enabled]
    load_handlers(params.code)  # every file checked before anything runs
    outbox = Outbox.for_workspace(db)
    with run_lock(outbox) as held:
        if not held:
            raise WorkspaceError("another 'cdp activation run' is computing for this workspace; wait for it to finish")
        results: list[TriggerResult] = []
        if triggers:
            with Workspace(db) as ws:
                results = enqueue_due(ws, triggers, outbox)
        handlers = run_handlers(db, params.code, outbox)
    sent = deliver_pending(outbox, max_wait_seconds=params.max_wait_seconds) if params.send else None
    return {"triggers": [r.as_dict() for r in results], "handlers": [h.as_dict() for h in handlers],
            "sent": sent.as_dict() if sent else None}
