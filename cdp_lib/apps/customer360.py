"""Customer 360 app: find a person by part of their name or email (or an identifier) and see their answers."""

from __future__ import annotations

import html

import ipywidgets as widgets
import pandas as pd

from cdp_lib.apps.base import App, fmt, table_html
from cdp_lib.customer360 import PASSED, Customer360, customer_360, local_times
from cdp_lib.customer360.search import ProfileIndex, label, search_profiles
from cdp_lib.errors import InputError
from cdp_lib.kpi import latest_event_day
from cdp_lib.workspace import Workspace


def _fact(label: str, value: str, key: str) -> str:
    return (f'<div class="cdp-card" data-fact="{key}"><div class="cdp-label">{html.escape(label)}</div>'
            f'<div class="cdp-value" style="font-size:18px">{value}</div></div>')


def _next_purchase(c: Customer360) -> str:
    """The date, marked when it has passed; "not expected (probably gone)" at high churn risk."""
    if c.expected_next_order_date is None:
        return html.escape(c.next_purchase) if c.next_purchase else "–"
    text = fmt(c.expected_next_order_date)
    return f"{text} ({html.escape(c.next_purchase)})" if c.next_purchase == PASSED else text


def _money(value) -> str:
    return fmt(value, 2)


def facts_html(c: Customer360) -> str:
    """The headline answers as cards, each tagged with `data-fact` for tests and styling."""
    name = " ".join(str(c.profile.get(k) or "") for k in ("first_name", "last_name")).strip() or c.profile["profile_id"]
    hour_value = c.usual_active_hour_local if c.usual_active_hour_local is not None else c.usual_active_hour
    zone = c.timezone if c.usual_active_hour_local is not None else "UTC"
    hour = "–" if hour_value is None else f"{hour_value:02d}:00–{hour_value:02d}:59 {html.escape(zone)}"
    churn = "–" if c.churn_probability is None else f"{c.churn_probability:.0%} ({c.churn_risk})"
    cards = [
        _fact("Historic CLV", _money(c.historic_clv), "historic_clv"),
        _fact("Predicted CLV (next year)", _money(c.predicted_clv), "predicted_clv"),
        _fact("Churn probability", churn, "churn_probability"),
        _fact("RFM group", fmt(c.rfm_group), "rfm_group"),
        _fact("Email", fmt(c.consent.get("email")), "consent_email"),
        _fact("SMS", fmt(c.consent.get("sms")), "consent_sms"),
        _fact("Orders", fmt(c.orders), "orders"),
        _fact("Revenue", _money(c.revenue), "revenue"),
        _fact("Last purchase channel", fmt(c.last_purchase_channel), "last_purchase_channel"),
        _fact("Preferred channel", fmt(c.preferred_channel), "preferred_channel"),
        _fact("Expected next purchase", _next_purchase(c), "expected_next_order_date"),
        _fact("Usually active", hour, "usual_active_hour"),
        _fact("Next best product", fmt(c.next_best_product), "next_best_product"),
        _fact("Best cross-sell date", fmt(c.best_cross_sell_date), "best_cross_sell_date"),
        _fact("Segments", html.escape(", ".join(c.segments)) or "–", "segments"),
    ]
    who = " · ".join(html.escape(str(v)) for v in (name, c.profile.get("email"), c.profile.get("phone"),
                                                     c.profile["profile_id"]) if v)
    notes = "".join(f"<div class='cdp-label'>{html.escape(n)}</div>" for n in c.notes)
    return f"<h3 style='margin:6px 0'>{who}</h3><div class='cdp-cards'>{''.join(cards)}</div>{notes}"


def timeline_frame(c: Customer360) -> pd.DataFrame:
    """The activity timeline as shown: local time, activity, product, value, channel."""
    t = c.timeline
    if t.empty:
        return t
    return pd.DataFrame({
        "Time": local_times(t["timestamp"], c.timezone), "Activity": t["metric"], "Product": t["product"],
        "Value": t["value"].astype(float), "Channel": t["channel"],
    })


def orders_frame(c: Customer360) -> pd.DataFrame:
    """The order list as shown: local time, order id, amount, channel, items, refunded, cancelled."""
    o = c.order_list
    if o.empty:
        return o
    return pd.DataFrame({
        "Placed": local_times(o["placed_at"], c.timezone), "Order": o["order_id"],
        "Amount": o["amount"].astype(float), "Channel": o["channel"], "Items": o["items"].astype(int),
        "Refunded": o["refunded"].astype(float), "Cancelled": o["cancelled"].astype(float),
    })


def _products(df: pd.DataFrame, tz: str = "UTC") -> pd.DataFrame:
    if df.empty:
        return df
    out = df[["name", "category", "times", "last_at"]].copy()
    out["last_at"] = local_times(out["last_at"], tz)
    return out


def _shown(shown: int, total: int) -> str:
    return f"{total:,}" if shown >= total else f"newest {shown:,} of {total:,}"


class Customer360App(App):
    """Search box (part of a name or email, or an identifier), matching people, and the 360 view
    of the chosen one: card, activity timeline and orders, times in the person's local time."""

    title = "Customer 360"

    def __init__(self, db=None, workspace=None, recent_days: int = 90, timeline_limit: int = 50):
        """`recent_days` counts back from the day of the newest event in the workspace."""
        super().__init__(db, workspace)
        self.recent_days = recent_days
        self.timeline_limit = timeline_limit
        self.query = widgets.Text(placeholder="part of a name or email, or a phone number or id", description="Find",
                                  layout=widgets.Layout(width="420px"), continuous_update=False)
        self.search = widgets.Button(description="Search", button_style="primary")
        self.search_note = widgets.HTML()  # what the search found or why it could not, beside the box
        self.matches = widgets.Dropdown(options=[], description="Profile", layout=widgets.Layout(width="640px"))
        self.facts = widgets.HTML()
        self.details = widgets.HTML()
        self.view: Customer360 | None = None
        self.found = None
        self.controls = [self.query, self.search, self.matches]
        self.search.on_click(self._on_search)
        self.query.observe(self._on_search, "value")
        self.matches.observe(lambda change: None if self._searching else self.refresh(), "value")
        self._searching = False
        self._last_query: str | None = None
        self._index: tuple[object, ProfileIndex] | None = None
        self.as_of = latest_event_day(self.ws)
        self.container = self._frame([widgets.HBox([self.query, self.search, self.search_note]), self.matches,
                                      self.facts, self.details])
        self.facts.value = "<div class='cdp-label'>Search for a customer to see their profile.</div>"
        # Built while the app opens (in a pre-heated Voila kernel, before anyone visits), not on
        # the first search: about 5 s at a million profiles.
        self.index()

    def index(self) -> ProfileIndex:
        """The search index of the current snapshot (rebuilt when a newer one is published)."""
        ws = self.ws
        if self._index is None or self._index[0] is not ws:
            self._index = (ws, ProfileIndex.build(ws))
        return self._index[1]

    def _on_search(self, *_):
        # Typing then clicking Search fires twice (the box's change on blur, then the click).
        if self._searching or (self.query.value == self._last_query and self.view is not None):
            return
        self._searching = True
        self._last_query = self.query.value
        try:
            self.found = search_profiles(self.index(), self.query.value)
            if self.found.rows.empty:
                raise InputError(self.found.message)
            rows = self.found.rows
            labels = [(label(r), r["profile_id"]) for r in rows.to_dict("records")]
            self.search_note.value = f"<span class='cdp-label cdp-search-note'>{html.escape(self.found.message)}</span>"
            self.matches.options = labels
            self.matches.value = labels[0][1]
            self.refresh()
        except InputError as exc:
            self.view = None
            self.matches.options = []
            self.facts.value = ""
            self.details.value = ""
            self.status.value = ""
            self.search_note.value = f'<span class="cdp-error">{html.escape(str(exc))}</span>'
        finally:
            self._searching = False

    def render(self, ws: Workspace) -> None:
        if not self.matches.value:
            return
        c = customer_360(ws, self.matches.value, as_of=self.as_of, recent_days=self.recent_days,
                         timeline_limit=self.timeline_limit)
        self.view = c
        self.facts.value = facts_html(c)
        msgs = c.message_responses.copy()
        rfm = c.rfm_history.copy()
        if not rfm.empty:
            rfm["as_of"] = pd.to_datetime(rfm["as_of"]).dt.strftime("%Y-%m-%d")
        zone = f"<div class='cdp-label cdp-timezone'>{html.escape(c.timezone_note[:1].upper() + c.timezone_note[1:])}</div>"
        timeline, orders = timeline_frame(c), orders_frame(c)
        parts = [
            zone,
            f"<h4>Orders ({_shown(len(orders), c.orders)})</h4>",
            f"<div class='cdp-orders'>{table_html(orders, max_rows=self.timeline_limit)}</div>"
            if not orders.empty else "<i>no orders yet</i>",
            f"<h4>Activity timeline (newest {len(timeline):,} event{'s' if len(timeline) != 1 else ''})</h4>",
            f"<div class='cdp-timeline'>{table_html(timeline, max_rows=self.timeline_limit)}</div>"
            if not timeline.empty else "<i>no activity yet</i>",
            f"<h4>Recently viewed (last {self.recent_days} days)</h4>",
            table_html(_products(c.recently_viewed, c.timezone)) if not c.recently_viewed.empty else "<i>nothing</i>",
            f"<h4>Recently bought (last {self.recent_days} days)</h4>",
            table_html(_products(c.recently_bought, c.timezone)) if not c.recently_bought.empty else "<i>nothing</i>",
            "<h4>Messages they respond to</h4>",
            table_html(msgs, {"opened": 0, "open_rate": 3, "click_rate": 3}),
            "<h4>RFM group history</h4>",
            table_html(rfm) if not rfm.empty else "<i>no RFM snapshots</i>",
        ]
        self.details.value = "".join(parts)
