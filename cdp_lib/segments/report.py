"""Tables for the segmentation report: validated parameters, latest changes, segment profiles."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.errors import InputError
from cdp_lib.segments.export import export_csv
from cdp_lib.segments.spells import _need, current_members
from cdp_lib.segments.library import DEFAULT_FOLDER, load_library
from cdp_lib.workspace import Workspace

PROFILE_FIELDS = ("average_order_value", "predicted_clv", "historic_clv")


@dataclass(frozen=True)
class SegmentationParams:
    """Parameters of notebooks/segmentation.ipynb, validated."""

    as_of: dt.date | None
    refresh: bool
    folder: str
    segments: tuple[str, ...]  # the segments the report shows (overlap, profiles, exports)
    out_dir: Path


def segmentation_params(as_of: str | None = None, refresh: bool = True, folder: str | None = None,
                        segments: Iterable[str] | None = None, out_dir: str | os.PathLike = "reports/segments") -> SegmentationParams:
    """Check the report's parameters: as_of an ISO date or None, segments known to the library."""
    day = None
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(str(as_of))
        except ValueError:
            raise InputError(f"as_of: expected a date written YYYY-MM-DD or None, got {as_of!r}") from None
    if not isinstance(refresh, bool):
        raise InputError(f"refresh: expected true or false, got {refresh!r}")
    folder = folder or DEFAULT_FOLDER
    library = load_library(folder)
    names = tuple(library) if segments is None else tuple(segments)
    for n in names:
        if n not in library:
            from cdp_lib.segments.definition import suggest

            raise InputError(f"segments: unknown segment {n!r}{suggest(n, library)}")
    return SegmentationParams(day, refresh, str(folder), names, Path(out_dir))


def latest_refresh_table(ws: Workspace) -> ir.Table:
    """Each segment's latest refresh: members, entered and left since the previous one."""
    r = _need(ws, "segment_refreshes")
    ranked = r.mutate(_n=ibis.row_number().over(group_by="segment", order_by=[ibis.desc("as_of"), ibis.desc("refreshed_at")]))
    return ranked.filter(ranked._n == 0).drop("_n").order_by(ibis.desc("members"))


def segment_profile_table(ws: Workspace, segments: Iterable[str]) -> ir.Table:
    """Per segment: members, reachable by email / SMS, top country, mean AOV and CLV, summed predicted CLV."""
    p = ws.profiles
    people = p.select("profile_id", "country", "email", "phone", "email_consent", "sms_consent")
    if ws.has_table("clv_predictions"):
        c = ws.table("clv_predictions")
        attrs = c.select(_k=c.profile_id, **{f: c[f] for f in PROFILE_FIELDS})
        people = people.left_join(attrs, people.profile_id == attrs._k).drop("_k")
    else:
        people = people.mutate(**{f: ibis.null("float64") for f in PROFILE_FIELDS})
    parts = [current_members(ws, n).mutate(segment=ibis.literal(n)) for n in segments]
    if not parts:
        raise InputError("segment_profile_table needs at least one segment")
    m = ibis.union(*parts).inner_join(people, "profile_id")
    email_ok = (m.email.notnull() & m.email_consent.fill_null(False)).cast("int64")
    sms_ok = (m.phone.notnull() & m.sms_consent.fill_null(False)).cast("int64")
    summary = m.group_by("segment").agg(
        members=m.count(),
        email_reachable=email_ok.mean(),
        sms_reachable=sms_ok.mean(),
        mean_aov=m.average_order_value.mean(),
        mean_predicted_clv=m.predicted_clv.mean(),
        predicted_clv_next_year=m.predicted_clv.sum(),
        mean_historic_clv=m.historic_clv.mean(),
    )
    by_country = m.group_by(["segment", "country"]).agg(n=m.count())
    by_country = by_country.mutate(_r=ibis.row_number().over(group_by="segment", order_by=[ibis.desc("n"), "country"]))
    top = by_country.filter(by_country._r == 0).select("segment", top_country="country")
    return summary.left_join(top, "segment").select(summary, "top_country").order_by(ibis.desc("members"))


def export_segments(ws: Workspace, segments: Iterable[str], out_dir: str | os.PathLike,
                    fields: Iterable[str] = ("profile_id", "external_id", "email")) -> pd.DataFrame:
    """Write one CSV per segment (current members, chosen fields); return `segment, rows, file`."""
    out_dir = Path(out_dir)
    rows = []
    from cdp_lib.segments.library import slug

    for name in segments:
        path = out_dir / f"{slug(name)}.csv"
        rows.append({"segment": name, "rows": export_csv(ws, name, path, fields), "file": str(path)})
    return pd.DataFrame(rows)
