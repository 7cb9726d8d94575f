"""The synthetic store: profiles, events and catalog with known ground truth.

People are generated in fixed-size chunks, each from its own random stream derived from
(seed, chunk number), and written to the output files chunk by chunk, so memory stays flat at
any scale and the same seed always gives the same files. Every step is vectorised with numpy;
strings are assembled with pyarrow compute kernels.

A chunk is made in named steps, each in the module of what it generates: `people`, `orders`
(with the browsing and after-sales events around each order), `behaviour` (sessions without
an order, lists, accounts, service), `campaigns` (email and SMS), then the `events` table and
the `profiles` and ground-truth tables. The steps draw from the chunk's random stream in this
fixed order; reordering them changes every file a seed gives.

The generating processes and their parameters are documented in docs/demo-data.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp_lib.demodata.behaviour import add_abandoned_sessions, add_lists_accounts_service
from cdp_lib.demodata.calendar import HISTORY_DAYS, Calendar
from cdp_lib.demodata.campaigns import Messages, add_email, add_sms, make_messages
from cdp_lib.demodata.catalog import Catalog, make_catalog
from cdp_lib.demodata.events import EVENT_SCHEMA, EventBlocks, events_table
from cdp_lib.demodata.orders import add_order_journeys, add_placed_orders, draw_orders
from cdp_lib.demodata.params import PARAMS, StoreParams
from cdp_lib.demodata.people import PROFILE_SCHEMA, TRUTH_SCHEMA, draw_people, profiles_table, truth_table
from cdp_lib.demodata.writer import TableWriter, file_name

CHUNK_PROFILES = 20_000


@dataclass
class StoreSummary:
    """What `generate_store` wrote."""

    out_dir: Path
    files: dict[str, Path]
    profiles: int  # people
    profile_rows: int  # rows in the profiles file (people with two records appear twice)
    events: int
    products: int
    start: dt.datetime
    end: dt.datetime  # exclusive end of the calendar: midnight after the end date
    until: dt.datetime | None = None  # the data stops here: min(end, the moment of generation)


def _chunk(seed: int, chunk_no: int, first: int, n: int, calendar: Calendar, catalog: Catalog,
           messages: Messages, prm: StoreParams, event_base: int, order_base: int):
    """People `first` .. `first + n - 1`: their profile records, events and ground truth, and
    the number of orders they placed (order numbers start at `order_base`)."""
    rng = np.random.default_rng([seed, 3, chunk_no])
    people = draw_people(rng, first, n, calendar, catalog, prm)
    ev = EventBlocks()
    orders = draw_orders(rng, people, calendar, catalog, prm, order_base)
    add_order_journeys(rng, ev, people, orders, catalog, prm)
    sessions = add_abandoned_sessions(rng, ev, people, calendar, catalog)
    email_clicks = add_email(rng, ev, people, orders, sessions, messages, prm)
    sms_clicks = add_sms(rng, ev, people, orders, sessions, messages)
    add_placed_orders(rng, ev, orders, email_clicks, sms_clicks)
    add_lists_accounts_service(rng, ev, people)
    events = events_table(rng, ev, people, calendar, catalog, messages, event_base)
    profiles = profiles_table(rng, seed, chunk_no, people, calendar)
    buyer = people.is_buyer & (orders.t_first < float(HISTORY_DAYS))
    truth = truth_table(people, prm, catalog, buyer, orders.per_person, orders.alive_at_end)
    return profiles, events, truth, orders.n


def _until(cutoff: dt.datetime, n: int, profiles: pa.Table, events: pa.Table,
           truth: pa.Table) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Leave out what happens after `cutoff`: later events, and people who sign up later (their
    profile records and ground truth). The first `n` profile rows are the people, in truth order."""
    limit = pa.scalar(cutoff, pa.timestamp("us", tz="UTC"))
    events = events.filter(pc.less_equal(events["timestamp"], limit))
    signed_up = pc.less_equal(profiles["created_at"], limit)
    truth = truth.filter(signed_up.slice(0, n))
    return profiles.filter(signed_up), events, truth


def generate_store(out_dir, profiles: int, seed: int = 42, end_date=None, fmt: str = "parquet",
                   progress: Callable[[int, int], None] | None = None,
                   params: StoreParams = PARAMS, generated_at: dt.datetime | None = None) -> StoreSummary:
    """Write a synthetic store (`profiles.*`, `events.*`, `catalog.*`, `truth.parquet`).

    Parameters
    ----------
    out_dir
        Folder to write into (created if missing); existing files of the same names are replaced.
    profiles
        Number of people. About 50 events per person on average.
    seed
        Same seed and end date give byte-identical files.
    end_date
        Last day of the history (a date or ISO string; default today, UTC). The history covers
        the 730 days up to and including it, but never goes past `generated_at`.
    fmt
        'parquet', 'csv' or 'jsonl' for the three tables; the ground truth is always Parquet.
    progress
        Called as ``progress(people_done, people_total)`` after each chunk.
    generated_at
        The moment of generation (default: the wall clock, UTC). No event and no sign-up after
        it is written, so a store generated today has no event in the future. Ids are assigned
        before the cut, so the events that are written keep the same ids whenever the store is
        generated.
    """
    from cdp_lib.errors import InputError

    if not isinstance(profiles, (int, np.integer)) or profiles < 1:
        raise InputError(f"profiles must be a positive whole number, got {profiles!r}")
    if end_date is None:
        end_date = dt.datetime.now(dt.timezone.utc).date()
    elif isinstance(end_date, str):
        try:
            end_date = dt.date.fromisoformat(end_date)
        except ValueError:
            raise InputError(f"end date {end_date!r} is not a date; write it as YYYY-MM-DD") from None
    elif isinstance(end_date, dt.datetime):
        end_date = end_date.date()
    now = dt.datetime.now(dt.timezone.utc) if generated_at is None else generated_at
    if now.tzinfo is None:
        raise InputError(f"generated_at {now!r} has no time zone; give a UTC datetime")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    calendar = Calendar(end_date)
    cutoff = min(calendar.end - dt.timedelta(microseconds=1), now.astimezone(dt.timezone.utc))
    catalog = make_catalog(seed)
    messages = make_messages(seed, calendar)
    files = {name: out / file_name(name, fmt) for name in ("profiles", "events", "catalog")}
    files["truth"] = out / "truth.parquet"
    with TableWriter(files["catalog"], catalog.table.schema, fmt) as w:
        w.write(catalog.table)
    event_rows = profile_rows = people = 0
    event_base = orders = 0
    with TableWriter(files["profiles"], PROFILE_SCHEMA, fmt) as wp, \
            TableWriter(files["events"], EVENT_SCHEMA, fmt) as we, \
            TableWriter(files["truth"], TRUTH_SCHEMA, "parquet") as wt:
        for chunk_no, first in enumerate(range(0, int(profiles), CHUNK_PROFILES)):
            n = min(CHUNK_PROFILES, int(profiles) - first)
            p_tab, e_tab, t_tab, n_orders = _chunk(seed, chunk_no, first, n, calendar, catalog,
                                                   messages, params, event_base, orders)
            event_base += e_tab.num_rows  # ids do not depend on the cut
            p_tab, e_tab, t_tab = _until(cutoff, n, p_tab, e_tab, t_tab)
            wp.write(p_tab)
            we.write(e_tab)
            wt.write(t_tab)
            event_rows += e_tab.num_rows
            profile_rows += p_tab.num_rows
            people += t_tab.num_rows
            orders += n_orders
            if progress is not None:
                progress(first + n, int(profiles))
    return StoreSummary(out, files, people, profile_rows, event_rows,
                        catalog.table.num_rows, calendar.start, calendar.end, cutoff)
