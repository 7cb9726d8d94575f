"""The CDNOW purchase log (shipped inside `lifetimes`) as canonical event and profile files.

CDNOW_master.txt holds every purchase of 23,570 customers who first bought at CDNOW in the
first quarter of 1997, up to June 1998 (Fader & Hardie's data set): customer id, date
(YYYYMMDD), number of CDs, dollar value. CDNOW_sample.txt is the 1/10 sample (2,357
customers) with one more column, the customer's number inside the sample (1..2357), which is
the id used in Fader, Hardie & Lee (2005) and in `lifetimes`' summary files.

Each input row becomes one `Placed Order` event. About 255 rows of the master log repeat
another row exactly (same customer, day, CDs and dollars): they are separate purchases, so the
event id is the row's line number in the file and no row is ever dropped as a duplicate.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa

from cdp_lib.demodata.writer import TableWriter, file_name
from cdp_lib.errors import InputError

CDNOW_MASTER_ROWS = 69_659
CDNOW_MASTER_CUSTOMERS = 23_570
CDNOW_SAMPLE_ROWS = 6_919
CDNOW_SAMPLE_CUSTOMERS = 2_357


def cdnow_source(sample: bool = False) -> Path:
    """Path of the CDNOW text file inside the installed `lifetimes` package."""
    name = "CDNOW_sample.txt" if sample else "CDNOW_master.txt"
    # Located, not imported: importing lifetimes changes pandas options (cdp_lib.clv.models
    # is the one module that imports it, inside a fence).
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the CDNOW data ships with the 'lifetimes' package, which is not "
                         "installed; run 'make install'")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / name
    if not path.exists():
        raise InputError(f"{path} is missing from the installed 'lifetimes' package; reinstall it")
    return path


def read_cdnow(sample: bool = False) -> pd.DataFrame:
    """The raw log: one row per purchase with `line` (1-based data row), `customer`, `date`,
    `cds`, `dollars`, and for the sample also `master_customer`."""
    path = cdnow_source(sample)
    if sample:
        names = ["master_customer", "customer", "date", "cds", "dollars"]
        raw = pd.read_csv(path, sep=r"\s+", header=None, names=names, dtype=str)
    else:
        names = ["customer", "date", "cds", "dollars"]
        raw = pd.read_csv(path, sep=r"\s+", header=0, names=names, dtype=str)
    out = pd.DataFrame({
        "line": range(1, len(raw) + 1),
        "customer": raw["customer"].astype(int),
        "date": pd.to_datetime(raw["date"], format="%Y%m%d").dt.tz_localize("UTC"),
        "cds": raw["cds"].astype(int),
        "dollars": raw["dollars"].astype(float),
    })
    if sample:
        out["master_customer"] = raw["master_customer"].astype(int)
    return out


def write_cdnow(out_dir: str | os.PathLike, sample: bool = False, fmt: str = "parquet") -> dict[str, Path]:
    """Write `events.*` (one `Placed Order` per purchase) and `profiles.*` (one per customer).

    `external_id` is the customer number: the master log's id, or for the sample its number
    inside the sample (1..2357, as in the published summaries) with the master id kept as the
    profile property `master_customer_id`. Timestamps are the purchase day at 00:00 UTC,
    `value` the dollars and `quantity` the number of CDs. Returns the written paths.
    """
    log = read_cdnow(sample)
    prefix = "cdnow-sample" if sample else "cdnow"
    ext = log["customer"].astype(str)
    events = pd.DataFrame({
        "event_id": prefix + "-" + log["line"].astype(str),
        "external_id": ext,
        "metric": "Placed Order",
        "timestamp": log["date"].astype("datetime64[us, UTC]"),
        "value": log["dollars"],
        "order_id": prefix + "-" + log["line"].astype(str),
        "quantity": log["cds"].astype(float),
    })
    first = log.groupby("customer", sort=True)["date"].min()
    profiles = pd.DataFrame({
        "external_id": first.index.astype(str),
        "created_at": first.reset_index(drop=True).astype("datetime64[us, UTC]"),
    })
    if sample:
        master = log.groupby("customer", sort=True)["master_customer"].first()
        profiles["master_customer_id"] = master.to_numpy().astype(str)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in (("events", events), ("profiles", profiles)):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        paths[name] = out / file_name(name, fmt)
        with TableWriter(paths[name], table.schema, fmt) as writer:
            writer.write(table)
    return paths
