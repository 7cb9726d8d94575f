"""Activation: triggers, a durable signed-webhook outbox, file audiences and code on events.

Public API (see docs/activation.md):

- `load_triggers`, `parse_trigger`, `TriggerParams` — trigger definitions;
- `enqueue_due` — compute what triggers have to send and store it in the outbox;
- `deliver_pending` — send the outbox (signed, retried);
- `Outbox`, `outbox_path` — the outbox and its state;
- `verify_signature`, `sign_headers` — the signing recipe, for senders and receivers;
- `run_handlers`, `load_handlers` — code on events.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "TriggerParams": "triggers", "load_triggers": "triggers", "parse_trigger": "triggers", "load_trigger": "triggers",
    "enqueue_due": "run", "enqueue_trigger": "run",
    "deliver_pending": "deliver", "backoff_seconds": "deliver",
    "Outbox": "store", "outbox_path": "store",
    "verify_signature": "signing", "sign_headers": "signing", "signature": "signing",
    "run_handlers": "code", "load_handlers": "code", "HandlerSpec": "code",
    "notify": "notify",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Load submodules on first use, so importing the package stays cheap."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
