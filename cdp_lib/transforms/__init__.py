"""Profile transforms: merge -> format -> standardise into `<property>_transformed`, originals kept.

Definitions live in `parameters/transforms/*.yaml` (`definitions`), the computation is Ibis
(`expressions`), writing and the active set are at the storage edge (`store`). Rules:
docs/data-management.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis

from cdp_lib.transforms.definitions import (DEFAULT_DIR, FORMAT_OPS, TransformDefinition,
                                            check_columns, load_dir, parse_definition, parse_yaml)

__all__ = ["DEFAULT_DIR", "FORMAT_OPS", "TransformDefinition", "Preview", "apply", "check_columns",
           "load_dir", "parse_definition", "parse_yaml", "preview"]


@dataclass
class Preview:
    """What one transform would do: counts over all profiles and a before -> after sample."""

    definition: TransformDefinition
    rows: int
    changed: int
    unchanged: int
    empty: int
    bad_dates: int
    sample: "object"  # pandas DataFrame: profile_id, before, after, status

    def as_dict(self) -> dict:
        return {"name": self.definition.name, "output": self.definition.output, "rows": self.rows,
                "changed": self.changed, "unchanged": self.unchanged, "empty": self.empty,
                "bad_dates": self.bad_dates,
                "sample": self.sample.to_dict(orient="records")}


def preview(ws, defs: list[TransformDefinition], sample: int = 10) -> list[Preview]:
    """Counts and a sample per transform, writing nothing.

    Each transform sees the outputs of the ones before it as they would be after `apply`.
    The sample lists changed rows first, then by profile_id.
    """
    from cdp_lib.transforms import expressions

    profiles = ws.table("profiles")
    check_columns(defs, list(profiles.columns))
    out = []
    for d in defs:
        p = expressions.preview_table(profiles, d)
        counts = p.aggregate(
            rows=p.count(), changed=(p.status == "changed").sum(),
            unchanged=(p.status == "unchanged").sum(), empty=(p.status == "empty").sum(),
            bad_dates=p.bad_date.sum(),
        ).execute().iloc[0]
        order = ibis.cases((p.status == "changed", 0), (p.status == "unchanged", 1), else_=2)
        shown = p.order_by([order, p.profile_id]).limit(sample).select(
            "profile_id", "before", "after", "status").execute()
        out.append(Preview(d, *(int(counts[k] or 0) for k in
                                ("rows", "changed", "unchanged", "empty", "bad_dates")), shown))
        # Later transforms may read this one's output.
        step = expressions.pipeline(profiles, d)
        profiles = step.mutate(**{d.output: step._v}).drop("_v", "_pre", "_iso")
    return out


def apply(ws, defs: list[TransformDefinition]) -> list[dict]:
    """Write every transform's output for all profiles in one transaction; they become active."""
    from cdp_lib.transforms import store

    return store.apply(ws, defs)
