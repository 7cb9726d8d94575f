"""Audience performance: per segment, members, size change and conversions attributed to email/SMS.

Rules (docs/audience.md has examples):

* Period: whole UTC days, both ends included — `last_7_days` (default) and `last_30_days` end
  on the as-of date, `week_to_date` starts on Monday, `month_to_date` on the 1st, `custom` is
  `start`..`end` of at most 366 days.
* Members are counted at the end of the period; `added` / `removed` are spells that opened /
  closed inside it; `size_change = added - removed`. A person is a member at moment t when
  `joined_at <= t < left_at` (an open spell has no `left_at`).
* Attribution is last touch: a conversion at time tc is credited to the most recent message
  interaction at ti with `ti <= tc <= ti + window` of that interaction (both ends included;
  ties at the same ti go to the larger event_id). Windows default to email open 5 days, email
  click 5 days, SMS click 5 days, SMS open 1 day, SMS delivery ("Received SMS") 12 hours.
* A conversion counts for every segment the person belonged to at tc. `total_*` is email plus
  SMS; `all_*` counts every conversion of members, attributed or not.
* When a segment's stored history starts after the period's first moment, a `HistoryWarning`
  (one line) says so and how to backfill (`cdp segment refresh --backfill DAYS`).
"""

from __future__ import annotations

import datetime as dt
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.dates import as_of_day, parse_date
from cdp_lib.durations import parse_duration
from cdp_lib.errors import InputError
from cdp_lib.metrics import events_for, load_metrics
from cdp_lib.params import Params, renamed_keyword
from cdp_lib.schema import PLACED_ORDER
from cdp_lib.workspace import Workspace

PERIODS = ("last_7_days", "last_30_days", "week_to_date", "month_to_date", "custom")
MAX_CUSTOM_DAYS = 366
CHANNELS = ("email", "sms")
# interaction metric -> (channel, attribution window)
DEFAULT_WINDOWS: dict[str, tuple[str, str]] = {
    "Opened Email": ("email", "5d"),
    "Clicked Email": ("email", "5d"),
    "Clicked SMS": ("sms", "5d"),
    "Opened SMS": ("sms", "1d"),
    "Received SMS": ("sms", "12h"),
}


class HistoryWarning(UserWarning):
    """Segment history starts after the period does: earlier members are not counted."""


@dataclass(frozen=True)
class Touch:
    """A message interaction that can earn credit: its metric, channel and window in seconds."""

    metric: str
    channel: str
    window_seconds: int


@dataclass(frozen=True)
class AudienceParams(Params):
    """Validated audience-performance request; build it with `audience_params(...)` or
    `from_mapping`/`from_yaml` (a custom period's days are `from`/`to`; the old `start`/`end`
    still work and warn). Attributes `start`/`end` hold the period's first and last day."""

    BUILDER: ClassVar[str] = "audience_params"
    ALIASES: ClassVar[Mapping[str, str]] = {"start": "from_", "end": "to"}
    WHERE: ClassVar[str] = "audience parameters"

    start: dt.date
    end: dt.date
    segments: tuple[str, ...] | None = None
    conversion_metric: str = PLACED_ORDER
    touches: tuple[Touch, ...] = ()
    period: str = "last_7_days"




def period_bounds(period: str, as_of: Any = None, from_: Any = None, to: Any = None, *,
                  start: Any = None, end: Any = None) -> tuple[dt.date, dt.date]:
    """First and last day (both included) of a named period ending on the as-of date, or of the
    `custom` period `from_`..`to` (`start`/`end`: their old names, accepted with a warning)."""
    from_ = renamed_keyword("from_", "start", from_, start)
    to = renamed_keyword("to", "end", to, end)
    if period not in PERIODS:
        raise InputError(f"period: expected one of {list(PERIODS)}, got {period!r}")
    if period == "custom":
        first, last = parse_date(from_, "from"), parse_date(to, "to")
        if first is None or last is None:
            raise InputError("period 'custom' needs both from and to dates (YYYY-MM-DD)")
        if first > last:
            raise InputError(f"from {first} is after to {last}; swap them")
        if (last - first).days + 1 > MAX_CUSTOM_DAYS:
            raise InputError(f"custom period {first}..{last} is {(last - first).days + 1} days; at most one year "
                             f"({MAX_CUSTOM_DAYS} days) is allowed")
        return first, last
    day = as_of_day(parse_date(as_of, "as_of"))
    if period == "last_7_days":
        return day - dt.timedelta(days=6), day
    if period == "last_30_days":
        return day - dt.timedelta(days=29), day
    if period == "week_to_date":
        return day - dt.timedelta(days=day.weekday()), day
    return day.replace(day=1), day


def audience_params(
    segments: Sequence[str] | None = None,
    period: str = "last_7_days",
    as_of: Any = None,
    from_: Any = None,
    to: Any = None,
    conversion_metric: str = PLACED_ORDER,
    windows: Mapping[str, Any] | None = None,
    *,
    start: Any = None,
    end: Any = None,
) -> AudienceParams:
    """Validate a request. `windows` maps interaction metric -> `[channel, window]` (e.g.
    `{"Clicked Email": ["email", "3d"]}`), merged over `DEFAULT_WINDOWS`; a null value drops one."""
    first, last = period_bounds(period, as_of, renamed_keyword("from_", "start", from_, start),
                                renamed_keyword("to", "end", to, end))
    merged: dict[str, Any] = dict(DEFAULT_WINDOWS)
    for metric, spec in (windows or {}).items():
        if spec is None:
            merged.pop(metric, None)
        else:
            merged[metric] = spec
    touches = []
    for metric, spec in merged.items():
        where = f"windows[{metric!r}]"
        if not isinstance(spec, (list, tuple)) or len(spec) != 2:
            raise InputError(f"{where}: expected [channel, window] such as ['email', '5d'], got {spec!r}")
        channel, window = spec
        if channel not in CHANNELS:
            raise InputError(f"{where}: channel {channel!r} is not one of {list(CHANNELS)}")
        span = parse_duration(window, where)
        touches.append(Touch(metric, channel, int(span.total_seconds())))
    if segments is not None:
        if isinstance(segments, str):
            segments = [segments]
        segments = tuple(segments)
    return AudienceParams(first, last, segments, conversion_metric, tuple(touches), period)


def _moment(day: dt.date) -> ibis.Scalar:
    return ibis.timestamp(dt.datetime(day.year, day.month, day.day), timezone="UTC")


def membership_spells(ws: Workspace, members: Mapping[str, Sequence[str]] | None = None) -> ir.Table:
    """(segment, profile_id, joined_at, left_at): stored history, or explicit member lists.

    Explicit lists are members for all time (no joined_at, no left_at), so they count in every
    period and add nothing to size change.
    """
    if members is not None:
        rows = [(seg, str(pid)) for seg, ids in members.items() for pid in ids]
        frame = pd.DataFrame(rows, columns=["segment", "profile_id"])
        frame["joined_at"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
        frame["left_at"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
        return ibis.memtable(frame)
    if not ws.has_table("segment_membership"):
        raise InputError(
            "audience performance needs segment history: run 'cdp segment refresh' first, "
            "or pass explicit member lists {segment: [profile_id, ...]}"
        )
    return ws.table("segment_membership").select("segment", "profile_id", "joined_at", "left_at")


def history_gap(ws: Workspace, params: AudienceParams, names: Sequence[str]) -> str | None:
    """One line naming the segments whose history starts after the period's first moment and
    the backfill that would cover it; None when every segment's history covers the period."""
    if not ws.has_table("segment_refreshes") or not names:
        return None
    r = ws.table("segment_refreshes")
    r = r.filter(r.segment.isin(list(names)))
    spans = r.group_by("segment").agg(first=r.as_of.min(), last=r.as_of.max()).execute()
    lo = pd.Timestamp(params.start, tz="UTC")
    late = spans[spans["first"] > lo].sort_values(["first", "segment"])
    if late.empty:
        return None
    # A refresh may not go back in time: backfill from the latest refresh's day (the end of the
    # day before the period is the first snapshot needed: membership during a day comes from the
    # snapshot at the end of the day before).
    last_day = pd.Timestamp(late["last"].max()).tz_convert("UTC").date()
    days = min(max((last_day - params.start).days + 1, 1), 3_660)
    as_of = "" if last_day == as_of_day(None) else f"--as-of {last_day} "
    first = late.iloc[0]
    more = f" and {len(late) - 1} more" if len(late) > 1 else ""
    return (f"history of {first['segment']!r}{more} starts {pd.Timestamp(first['first']):%Y-%m-%d %H:%M} UTC, after the "
            f"period's start {params.start}: members before then are not counted and their conversions not credited; "
            f"run 'cdp segment refresh {as_of}--backfill {days}' to reconstruct it (segments built on CLV "
            "predictions or samples cannot be reconstructed)")


def attributed_conversions_table(ws: Workspace, params: AudienceParams, metrics=None) -> ir.Table:
    """Conversions in the period with their last-touch credit.

    Columns: event_id, profile_id, timestamp, value, channel ('email', 'sms' or null),
    touch_metric, touch_at, touch_id (the crediting interaction's event_id).
    """
    metrics = load_metrics() if metrics is None else metrics
    lo, hi = _moment(params.start), _moment(params.end + dt.timedelta(days=1))
    conv = events_for(ws, params.conversion_metric, metrics)
    conv = conv.filter((conv.timestamp >= lo) & (conv.timestamp < hi))
    conv = conv.select("event_id", "profile_id", "timestamp", value=conv.value.fill_null(0.0))
    if not params.touches:
        return conv.mutate(channel=ibis.null("string"), touch_metric=ibis.null("string"),
                           touch_at=ibis.null("timestamp('UTC')"), touch_id=ibis.null("string"))
    spec = ibis.memtable(pd.DataFrame({
        "_tm": [t.metric for t in params.touches],
        "_ch": [t.channel for t in params.touches],
        "_win": [t.window_seconds for t in params.touches],
    }))
    longest = max(t.window_seconds for t in params.touches)
    ev = ws.events
    touches = ev.filter(ev.metric.isin([t.metric for t in params.touches])
                        & (ev.timestamp >= lo - ibis.interval(seconds=longest)) & (ev.timestamp < hi))
    touches = touches.join(spec, touches.metric == spec._tm)
    touches = touches.select(_tp=touches.profile_id, _tid=touches.event_id, _tat=touches.timestamp, _tm=touches._tm,
                             _ch=touches._ch, _until=touches.timestamp + touches._win.as_interval("s"))
    cand = conv.join(touches, [conv.profile_id == touches._tp, touches._tat <= conv.timestamp,
                               conv.timestamp <= touches._until])
    ranked = cand.mutate(_rn=ibis.row_number().over(group_by="event_id",
                                                     order_by=[ibis.desc(cand._tat), ibis.desc(cand._tid)]))
    best = ranked.filter(ranked._rn == 0).select(_cid="event_id", channel="_ch", touch_metric="_tm", touch_at="_tat",
                                                 touch_id="_tid")
    out = conv.left_join(best, conv.event_id == best._cid)
    return out.select("event_id", "profile_id", "timestamp", "value", "channel", "touch_metric", "touch_at", "touch_id")


def audience_performance_table(ws: Workspace, params: AudienceParams,
                               members: Mapping[str, Sequence[str]] | None = None, metrics=None) -> ir.Table:
    """One row per segment: members, added, removed, size_change, email/sms/total conversions and
    revenue (attributed), all_conversions and all_revenue (every conversion of members)."""
    spells = membership_spells(ws, members)
    if members is not None:
        known = list(members)
    else:
        known = sorted(spells.select("segment").distinct().segment.execute())
    names = params.segments
    if names is None:
        names = tuple(known)
    else:
        missing = [s for s in names if s not in known]
        if missing:
            from cdp_lib.keys import suggest

            raise InputError(
                f"segment {missing[0]!r} has no membership history"
                + (suggest(missing[0], known) or f"; known: {', '.join(list(known)[:20])}")
            )
    if members is None:
        gap = history_gap(ws, params, names)
        if gap:
            warnings.warn(gap, HistoryWarning, stacklevel=2)
    spells = spells.filter(spells.segment.isin(list(names)))
    lo, hi = _moment(params.start), _moment(params.end + dt.timedelta(days=1))
    # the period's last moment is hi minus one microsecond; membership there = joined <= it < left
    sizes = spells.group_by("segment").aggregate(
        members=((spells.joined_at.isnull() | (spells.joined_at < hi))
                 & (spells.left_at.isnull() | (spells.left_at >= hi))).sum(),
        added=((spells.joined_at >= lo) & (spells.joined_at < hi)).fill_null(False).sum(),
        removed=((spells.left_at >= lo) & (spells.left_at < hi)).fill_null(False).sum(),
    )
    sizes = sizes.mutate(size_change=sizes.added - sizes.removed)

    conv = attributed_conversions_table(ws, params, metrics)
    live = spells.select(_seg="segment", _sp="profile_id", _j="joined_at", _l="left_at")
    credited = conv.join(live, [conv.profile_id == live._sp,
                                live._j.isnull() | (live._j <= conv.timestamp),
                                live._l.isnull() | (conv.timestamp < live._l)])
    credited = credited.select("_seg", "event_id", "value", "channel").distinct()

    def count(ch):
        return (credited.channel == ch).fill_null(False).sum()

    def revenue(ch):
        return ibis.ifelse(credited.channel == ch, credited.value, 0.0).fill_null(0.0).sum()

    perf = credited.group_by("_seg").aggregate(
        email_conversions=count("email"), email_revenue=revenue("email"),
        sms_conversions=count("sms"), sms_revenue=revenue("sms"),
        all_conversions=credited.count(), all_revenue=credited.value.sum(),
    )
    frame = ibis.memtable(pd.DataFrame({"segment": list(names), "_pos": range(len(names))}))
    out = frame.left_join(sizes, "segment").select(frame, "members", "added", "removed", "size_change")
    out = out.left_join(perf, out.segment == perf._seg).drop("_seg")
    zero_int = ["members", "added", "removed", "size_change", "email_conversions", "sms_conversions", "all_conversions"]
    zero_float = ["email_revenue", "sms_revenue", "all_revenue"]
    out = out.mutate(**{c: out[c].fill_null(0).cast("int64") for c in zero_int},
                     **{c: out[c].fill_null(0.0).cast("float64") for c in zero_float})
    out = out.mutate(total_conversions=out.email_conversions + out.sms_conversions,
                     total_revenue=out.email_revenue + out.sms_revenue)
    cols = ["segment", "members", "added", "removed", "size_change", "email_conversions", "email_revenue",
            "sms_conversions", "sms_revenue", "total_conversions", "total_revenue", "all_conversions", "all_revenue"]
    return out.order_by("_pos").select(*cols)
