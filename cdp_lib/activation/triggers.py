"""Trigger definitions (`parameters/triggers/*.yaml`): what fires, who qualifies, where it goes.

A trigger file::

    name: Entered at risk
    on: {segment: At Risk or Needs Attention, change: entered}     # or change: left
    # on: {rfm: {from: [Champions, Loyal], to: [At Risk, Needs Attention]}}
    # on: {metric: Unsubscribed}
    filter: [{property: email_consent, op: is_true}]                # optional, segment conditions
    destination: {webhook: {url: "http://127.0.0.1:9000/hook", secret_env: CDP_WEBHOOK_SECRET, batch_size: 100}}
    # destination: {file: {path: "reports/audiences/at_risk.csv", hash_identifiers: true}}

Everything is validated here, before anything runs; errors name the file, the key and what to do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

import yaml

from cdp_lib.dates import parse_date
from cdp_lib.errors import InputError
from cdp_lib.keys import suggest, unknown_key_message
from cdp_lib.segments.definition import SegmentDefinition, parse_definition

DEFAULT_FOLDER = "parameters/triggers"
TOP_KEYS = {"name", "description", "on", "filter", "destination", "enabled", "since", "late_days"}
RFM_GROUP_NAMES = ("Champions", "Loyal", "Recent", "Needs Attention", "At Risk", "Inactive", "Never purchased")
WEBHOOK_KEYS = {"url", "secret_env", "secret_file", "batch_size", "timeout_seconds", "max_attempts",
                "backoff_base_seconds", "backoff_cap_seconds"}
FILE_KEYS = {"path", "hash_identifiers", "format", "default_country_code"}


@dataclasses.dataclass(frozen=True)
class TriggerParams:
    """One validated trigger.

    `kind` is 'segment' (with `segment`, `change` entered|left), 'rfm' (with `rfm_from`, an
    empty tuple meaning any previous group, and `rfm_to`) or 'metric' (with `metric`).
    """

    name: str
    kind: str
    destination_kind: str  # webhook | file
    destination: Mapping[str, Any]
    source: str = "<trigger>"
    segment: str | None = None
    change: str | None = None
    rfm_from: tuple[str, ...] = ()
    rfm_to: tuple[str, ...] = ()
    metric: str | None = None
    filter: SegmentDefinition | None = None
    since: dt.date | None = None
    late_days: float = 7.0
    enabled: bool = True
    description: str = ""

    @property
    def batch_size(self) -> int:
        return int(self.destination.get("batch_size", 100)) if self.destination_kind == "webhook" else 10**9

    @property
    def max_attempts(self) -> int:
        return int(self.destination.get("max_attempts", 10))


def _err(where: str, key: str, message: str) -> InputError:
    return InputError(f"{where}: {key}: {message}")


def _names(where: str, key: str, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise _err(where, key, f"expected an RFM group or a list of them, got {value!r}")
    for v in items:
        if v not in RFM_GROUP_NAMES:
            raise _err(where, key, f"unknown RFM group {v!r}{suggest(v, RFM_GROUP_NAMES)}; groups: {', '.join(RFM_GROUP_NAMES)}")
    return tuple(items)


def _check_keys(where: str, key: str, data: Mapping, allowed: set[str]) -> None:
    for k in data:
        if k not in allowed:
            raise _err(where, f"{key}.{k}" if key else str(k), unknown_key_message(k, allowed))


def _number(where: str, key: str, value: Any, minimum: float, integer: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= minimum
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or value != value or value == float("inf"):
        kind = "a whole number" if integer else "a number"
        raise _err(where, key, f"expected {kind} >= {minimum}, got {value!r}")
    return value


def parse_trigger(data: Any, source: str = "<trigger>") -> TriggerParams:
    """Validate one trigger mapping (as read from YAML)."""
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: expected a mapping with name, on and destination, got {type(data).__name__}")
    # YAML 1.1 reads a bare `on` key as the boolean true; accept it under its written name.
    data = {("on" if k is True else k): v for k, v in data.items()}
    _check_keys(source, "", data, TOP_KEYS)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _err(source, "name", f"expected the trigger's name as text, got {name!r}")
    where = f"{source} (trigger {name.strip()!r})"
    on = data.get("on")
    if not isinstance(on, Mapping) or not on:
        raise _err(where, "on", "expected {segment: NAME, change: entered|left}, {rfm: {from: [...], to: [...]}} "
                   "or {metric: NAME}")
    fields: dict[str, Any] = {}
    if "segment" in on:
        _check_keys(where, "on", on, {"segment", "change"})
        if not isinstance(on["segment"], str) or not on["segment"].strip():
            raise _err(where, "on.segment", f"expected a segment name, got {on['segment']!r}")
        change = on.get("change", "entered")
        if change not in ("entered", "left"):
            raise _err(where, "on.change", f"expected 'entered' or 'left', got {change!r}")
        fields.update(kind="segment", segment=on["segment"].strip(), change=change)
    elif "rfm" in on:
        _check_keys(where, "on", on, {"rfm"})
        rfm = on["rfm"]
        if not isinstance(rfm, Mapping) or "to" not in rfm:
            raise _err(where, "on.rfm", "expected {from: [groups] (optional), to: [groups]}")
        _check_keys(where, "on.rfm", rfm, {"from", "to"})
        fields.update(kind="rfm", rfm_to=_names(where, "on.rfm.to", rfm["to"]),
                      rfm_from=_names(where, "on.rfm.from", rfm["from"]) if rfm.get("from") is not None else ())
    elif "metric" in on:
        _check_keys(where, "on", on, {"metric"})
        if not isinstance(on["metric"], str) or not on["metric"].strip():
            raise _err(where, "on.metric", f"expected a metric name, got {on['metric']!r}")
        fields.update(kind="metric", metric=on["metric"].strip())
    else:
        raise _err(where, "on", f"expected one of segment, rfm, metric; got {', '.join(map(str, on))}")
    dest_kind, dest = _destination(where, data.get("destination"), name.strip())
    flt = data.get("filter")
    if flt is not None:
        spec = {"conditions": flt} if isinstance(flt, list) else flt
        if not isinstance(spec, Mapping):
            raise _err(where, "filter", "expected a list of segment conditions or {match: all|any, conditions: [...]}")
        try:
            fields["filter"] = parse_definition({"name": f"{name.strip()} (filter)", **spec})
        except InputError as exc:
            raise InputError(f"{where}: filter: {exc}") from None
    since = data.get("since")
    if since is not None:
        if isinstance(since, str):
            try:
                since = parse_date(since, "since")
            except InputError:
                raise _err(where, "since", f"expected a date like 2025-01-31, got {since!r}") from None
        if not isinstance(since, dt.date):
            raise _err(where, "since", f"expected a date like 2025-01-31, got {since!r}")
        fields["since"] = since
    if "late_days" in data:
        fields["late_days"] = float(_number(where, "late_days", data["late_days"], 0))
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _err(where, "enabled", f"expected true or false, got {enabled!r}")
    description = data.get("description", "") or ""
    return TriggerParams(name=name.strip(), destination_kind=dest_kind, destination=dest, source=source,
                         enabled=enabled, description=str(description), **fields)


def _destination(where: str, spec: Any, name: str) -> tuple[str, dict]:
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in ("webhook", "file"):
        raise _err(where, "destination", "expected {webhook: {url: ..., secret_env: ...}} or {file: {path: ...}}")
    kind, conf = next(iter(spec.items()))
    if not isinstance(conf, Mapping):
        raise _err(where, f"destination.{kind}", "expected a mapping")
    conf = dict(conf)
    if kind == "webhook":
        _check_keys(where, "destination.webhook", conf, WEBHOOK_KEYS)
        if "secret" in conf:  # pragma: no cover - caught by _check_keys; kept as documentation
            raise _err(where, "destination.webhook.secret", "never put a secret in a file in the repository")
        url = conf.get("url")
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise _err(where, "destination.webhook.url", f"expected an http(s) URL, got {url!r}")
        if bool(conf.get("secret_env")) == bool(conf.get("secret_file")):
            raise _err(where, "destination.webhook", "give exactly one of secret_env (an environment variable "
                       "name) or secret_file (a file outside the repository); requests are always signed")
        for key, minimum, integer in (("batch_size", 1, True), ("timeout_seconds", 0.001, False),
                                      ("max_attempts", 1, True), ("backoff_base_seconds", 0, False),
                                      ("backoff_cap_seconds", 0, False)):
            if key in conf:
                _number(where, f"destination.webhook.{key}", conf[key], minimum, integer)
        conf.setdefault("batch_size", 100)
        conf.setdefault("timeout_seconds", 10)
        conf.setdefault("max_attempts", 10)
        return "webhook", conf
    _check_keys(where, "destination.file", conf, FILE_KEYS)
    path = conf.get("path")
    if not isinstance(path, str) or not path.strip():
        raise _err(where, "destination.file.path", f"expected a file path, got {path!r}")
    fmt = conf.get("format") or ("jsonl" if path.endswith((".jsonl", ".ndjson")) else "csv")
    if fmt not in ("csv", "jsonl"):
        raise _err(where, "destination.file.format", f"expected csv or jsonl, got {fmt!r}")
    hashed = conf.get("hash_identifiers", False)
    if not isinstance(hashed, bool):
        raise _err(where, "destination.file.hash_identifiers", f"expected true or false, got {hashed!r}")
    cc = str(conf.get("default_country_code", "1"))
    if not cc.isdigit() or not 1 <= len(cc) <= 3:
        raise _err(where, "destination.file.default_country_code", f"expected 1-3 digits like 1 or 44, got {cc!r}")
    return "file", {"path": path, "format": fmt, "hash_identifiers": hashed, "default_country_code": cc}


def load_trigger(path: str | os.PathLike) -> TriggerParams:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read trigger file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse_trigger(data, str(path))


def load_triggers(folder: str | os.PathLike = DEFAULT_FOLDER, missing_ok: bool = True) -> list[TriggerParams]:
    """Every `*.yaml`/`*.yml` trigger in `folder`, sorted by file name; names must be unique."""
    from cdp_lib.project import resolve_path

    folder = resolve_path(folder)  # relative folders are taken from the project folder
    if not folder.is_dir():
        if missing_ok:
            return []
        raise InputError(f"trigger folder {folder} does not exist; create it or pass --triggers DIR")
    triggers = [load_trigger(p) for p in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])]
    seen: dict[str, str] = {}
    for t in triggers:
        if t.name in seen:
            raise InputError(f"{t.source}: trigger name {t.name!r} is already used by {seen[t.name]}; names must be unique")
        seen[t.name] = t.source
    return triggers
