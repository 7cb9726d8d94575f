"""Sentences computed from the data, and how a notebook shows them.

Every function here takes small pandas frames (the tables a report already shows) and returns
plain text; `summary(text)` and `note(text)` wrap it for display (HTML in a notebook, the text
itself in a terminal). Numbers in sentences use `cdp_lib.display.format`.
"""

from __future__ import annotations

import contextlib
import html
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cdp_lib.display import format as fmt

if TYPE_CHECKING:
    import pandas as pd


class Text:
    """A sentence or paragraph for display: `summary` boxes it, `note` sets it as body text."""

    def __init__(self, text: str, css_class: str):
        self.text = text
        self.css_class = css_class

    def _repr_html_(self) -> str:
        from cdp_lib.display.style import CSS

        return f'<style>{CSS}</style><div class="{self.css_class}">{html.escape(self.text)}</div>'

    def _repr_markdown_(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def summary(*sentences: str) -> Text:
    """The one-paragraph summary at the top of a report (empty sentences are skipped)."""
    return Text(" ".join(s.strip() for s in sentences if s and s.strip()), "cdp-summary")


def note(*sentences: str) -> Text:
    """An interpretation sentence shown under a table or chart."""
    return Text(" ".join(s.strip() for s in sentences if s and s.strip()), "cdp-note")


@contextlib.contextmanager
def warnings_as_notes():
    """Warnings raised inside the block are shown as notes after it, in plain words, instead of
    the kernel's stderr block that repeats the line of code that raised them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    from IPython.display import display

    for w in caught:
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            continue
        display(note(f"Note: {w.message}"))


def join_words(words: Sequence[str], last: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    words = [str(w) for w in words]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def plural(n: int | float, word: str, many: str | None = None) -> str:
    """'1 customer', '2,345 customers'."""
    return f"{fmt.number(n)} {word if n == 1 else (many or word + 's')}"


def change_phrase(start: float, end: float) -> str:
    """'grew 18.4 %', 'shrank 5.0 %', 'stayed at 120', or 'grew from 0 to 12'."""
    if fmt.is_missing(start) or fmt.is_missing(end):
        return "has no comparison"
    if end == start:
        return f"stayed at {fmt.number(end)}"
    if start == 0:
        return f"grew from 0 to {fmt.number(end)}"
    pct = abs(end - start) / start
    return f"{'grew' if end > start else 'shrank'} {fmt.percent(pct)}"


# -- RFM ----------------------------------------------------------------------------------------
def rfm_change_sentence(distribution: pd.DataFrame, transitions: pd.DataFrame, start_date: Any) -> str:
    """'At Risk grew 18.4 % since 2025-04-01, mostly from Loyal.' for the group whose size changed
    most (in customers; ties: report order), with the group most of its newcomers came from (or,
    for a shrinking group, the group most of its leavers went to).

    `distribution` has rfm_group, customers_start, customers_end; `transitions` has from_group,
    to_group, customers (as `rfm_change` returns them).
    """
    rows = distribution.assign(_delta=(distribution["customers_end"] - distribution["customers_start"]))
    if rows.empty or (rows["_delta"] == 0).all():
        return f"No group changed size since {fmt.date(start_date)}."
    order = rows["_delta"].abs().to_numpy()
    best = rows.iloc[int(order.argmax())]
    group, grew = best["rfm_group"], best["_delta"] > 0
    moves = transitions[transitions["from_group"] != transitions["to_group"]]
    if grew:
        side = moves[moves["to_group"] == group].groupby("from_group")["customers"].sum()
        link = "mostly from"
    else:
        side = moves[moves["from_group"] == group].groupby("to_group")["customers"].sum()
        link = "mostly to"
    side = side[side > 0]
    text = f"{group} {change_phrase(best['customers_start'], best['customers_end'])} since {fmt.date(start_date)}"
    if not side.empty:
        top = side.sort_values(ascending=False, kind="stable")
        text += f", {link} {top.index[0]}"
        text += f" ({plural(int(top.iloc[0]), 'customer')})"
    return text + "."


def rfm_summary(counts: pd.DataFrame, revenue: pd.DataFrame | None, as_of: Any) -> str:
    """'On 2025-06-30, 1,234 customers who ordered fall into six groups; the largest is Inactive
    (40.0 % of customers). Champions are 10.0 % of customers and bring 35.2 % of revenue.'

    `counts` has rfm_group, customers; `revenue` (optional) rfm_group, customers, revenue.
    """
    total = int(counts["customers"].sum())
    if total == 0:
        return f"On {fmt.date(as_of)} no customer has ordered yet, so there are no RFM groups."
    top = counts.sort_values("customers", ascending=False, kind="stable").iloc[0]
    text = (f"On {fmt.date(as_of)}, {plural(total, 'customer')} who ordered fall into six groups; the largest "
            f"is {top['rfm_group']} ({fmt.percent(top['customers'] / total)} of customers).")
    if revenue is not None and not revenue.empty and float(revenue["revenue"].sum()) > 0:
        share = revenue.set_index("rfm_group")
        money_total = float(share["revenue"].sum())
        best = share["revenue"].idxmax()
        text += (f" {best} are {fmt.percent(share.loc[best, 'customers'] / total)} of customers and bring "
                 f"{fmt.percent(share.loc[best, 'revenue'] / money_total)} of revenue.")
    return text


# -- funnels ------------------------------------------------------------------------------------
def funnel_summary(steps: pd.DataFrame, from_date: Any, to_date: Any, window: str) -> str:
    """'Between 2025-06-01 and 2025-06-30, 1,200 people did Viewed Product; 9.5 % of them reached
    Placed Order within 14d. The biggest drop is from Viewed Product to Added to Cart: 70.0 % of
    people did not continue.'  `steps` is `funnel_frame` without breakdown (step, metric, profiles)."""
    steps = steps.sort_values("step")
    first, last = steps.iloc[0], steps.iloc[-1]
    entered = int(first["profiles"])
    head = f"Between {fmt.date(from_date)} and {fmt.date(to_date)}, {plural(entered, 'person', 'people')} did {first['metric']}"
    if entered == 0:
        return head + "; nobody entered the funnel."
    text = head + f"; {fmt.percent(last['profiles'] / entered)} of them reached {last['metric']} within {window}."
    drops = []
    for prev, cur in zip(steps.itertuples(), steps.iloc[1:].itertuples()):
        if prev.profiles > 0:
            drops.append((1 - cur.profiles / prev.profiles, prev.metric, cur.metric))
    if drops:
        lost, a, b = max(drops, key=lambda d: d[0])
        text += f" The biggest drop is from {a} to {b}: {fmt.percent(lost)} of people did not continue."
    return text


def breakdown_sentence(steps: pd.DataFrame, column: str, min_people: int = 1) -> str:
    """'Conversion is highest for US (12.0 %) and lowest for DE (4.0 %).' over breakdown values
    with at least `min_people` at step 1 (conversion = last step / step 1)."""
    last_step = steps["step"].max()
    first = steps[steps["step"] == 1].set_index(column)["profiles"]
    last = steps[steps["step"] == last_step].set_index(column)["profiles"]
    rates = (last / first)[first >= max(min_people, 1)].dropna()
    if len(rates) < 2:
        return ""
    rates = rates.sort_values(ascending=False, kind="stable")
    return (f"Conversion is highest for {rates.index[0]} ({fmt.percent(rates.iloc[0])}) and lowest for "
            f"{rates.index[-1]} ({fmt.percent(rates.iloc[-1])}).")


# -- cohorts ------------------------------------------------------------------------------------
def cohort_summary(cohorts: pd.DataFrame, grain: str) -> str:
    """'24 monthly cohorts from 2023-07 to 2025-06 (3,000 customers). On average 12.5 % of a cohort
    is active again one month after its first; best: 2024-01 (20.0 %).'  Averages weigh cohorts by
    size and use complete periods only."""
    if cohorts.empty:
        return "No cohort has a first order in the chosen range."
    own = cohorts[cohorts["period"] == 0]
    labels = sorted(own["cohort"].astype(str))
    text = (f"{plural(len(labels), grain + 'ly cohort' if grain != 'day' else 'daily cohort')} from {labels[0]} to "
            f"{labels[-1]} ({plural(int(own['customers'].sum()), 'customer')}).")
    nxt = cohorts[(cohorts["period"] == 1)]
    if "period_complete" in nxt:
        nxt = nxt[nxt["period_complete"].astype(bool)]
    nxt = nxt[nxt["customers"] > 0]
    if not nxt.empty:
        avg = float(nxt["active_customers"].sum()) / float(nxt["customers"].sum())
        best = nxt.sort_values("retention", ascending=False, kind="stable").iloc[0]
        text += (f" On average {fmt.percent(avg)} of a cohort is active again one {grain} after its first; "
                 f"best: {best['cohort']} ({fmt.percent(best['retention'])}).")
    return text
