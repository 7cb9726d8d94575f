"""Customer 360 app: search a person by email, phone or id and see their profile's answers."""

from __future__ import annotations

import html

import ipywidgets as widgets
import pandas as pd

from cdp_lib.apps.base import App, fmt, table_html
from cdp_lib.customer360 import PASSED, Customer360, customer_360, find_profiles
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


def facts_html(c: Customer360) -> str:
    """The headline answers as cards, each tagged with `data-fact` for tests and styling."""
    name = " ".join(str(c.profile.get(k) or "") for k in ("first_name", "last_name")).strip() or c.profile["profile_id"]
    hour = "–" if c.usual_active_hour is None else f"{c.usual_active_hour:02d}:00–{c.usual_active_hour:02d}:59 UTC"
    churn = "–" if c.churn_probability is None else f"{c.churn_probability:.0%} ({c.churn_risk})"
    cards = [
        _fact("Orders", fmt(c.orders), "orders"),
        _fact("Revenue", fmt(c.revenue, 2), "revenue"),
        _fact("Last purchase channel", fmt(c.last_purchase_channel), "last_purchase_channel"),
        _fact("Preferred channel", fmt(c.preferred_channel), "preferred_channel"),
        _fact("Expected next purchase", _next_purchase(c), "expected_next_order_date"),
        _fact("Usually active", hour, "usual_active_hour"),
        _fact("Churn probability", churn, "churn_probability"),
        _fact("Next best product", fmt(c.next_best_product), "next_best_product"),
        _fact("Best cross-sell date", fmt(c.best_cross_sell_date), "best_cross_sell_date"),
        _fact("Segments", html.escape(", ".join(c.segments)) or "–", "segments"),
    ]
    who = html.escape(f"{name} · {c.profile.get('email') or ''} · {c.profile.get('phone') or ''} · "
                      f"{c.profile['profile_id']}")
    notes = "".join(f"<div class='cdp-label'>{html.escape(n)}</div>" for n in c.notes)
    return f"<h3 style='margin:6px 0'>{who}</h3><div class='cdp-cards'>{''.join(cards)}</div>{notes}"


def _products(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    out = df[["name", "category", "times", "last_at"]].copy()
    out["last_at"] = pd.to_datetime(out["last_at"]).dt.strftime("%Y-%m-%d %H:%M")
    return out


class Customer360App(App):
    """Search box, matching profiles, and the 360 view of the chosen one."""

    title = "Customer 360"

    def __init__(self, db=None, workspace=None, recent_days: int = 90):
        """`recent_days` counts back from the day of the newest event in the workspace."""
        super().__init__(db, workspace)
        self.recent_days = recent_days
        self.query = widgets.Text(placeholder="email, phone, external id or profile id", description="Find",
                                  layout=widgets.Layout(width="420px"), continuous_update=False)
        self.search = widgets.Button(description="Search", button_style="primary")
        self.matches = widgets.Dropdown(options=[], description="Profile", layout=widgets.Layout(width="420px"))
        self.facts = widgets.HTML()
        self.details = widgets.HTML()
        self.view: Customer360 | None = None
        self.controls = [self.query, self.search, self.matches]
        self.search.on_click(self._on_search)
        self.query.observe(self._on_search, "value")
        self.matches.observe(lambda change: None if self._searching else self.refresh(), "value")
        self._searching = False
        self._last_query: str | None = None
        self.as_of = latest_event_day(self.ws)
        self.container = self._frame([widgets.HBox([self.query, self.search]), self.matches, self.facts, self.details])
        self.facts.value = "<div class='cdp-label'>Search for a customer to see their profile.</div>"

    def _on_search(self, *_):
        # Typing then clicking Search fires twice (the box's change on blur, then the click).
        if self._searching or (self.query.value == self._last_query and self.view is not None):
            return
        self._searching = True
        self._last_query = self.query.value
        try:
            found = find_profiles(self.ws, self.query.value)
            if found.empty:
                raise InputError(f"no profile has the email, phone or id {self.query.value.strip()!r}")
            labels = [
                (f"{r.profile_id} · {r.email or ''} · {r.phone or ''}", r.profile_id)
                for r in found.astype(object).where(found.notna(), None).itertuples()
            ]
            self.matches.options = labels
            self.matches.value = labels[0][1]
            self.refresh()
        except InputError as exc:
            self.view = None
            self.matches.options = []
            self.facts.value = ""
            self.details.value = ""
            self.status.value = f'<div class="cdp-error">{html.escape(str(exc))}</div>'
        finally:
            self._searching = False

    def render(self, ws: Workspace) -> None:
        if not self.matches.value:
            return
        c = customer_360(ws, self.matches.value, as_of=self.as_of, recent_days=self.recent_days)
        self.view = c
        self.facts.value = facts_html(c)
        msgs = c.message_responses.copy()
        rfm = c.rfm_history.copy()
        if not rfm.empty:
            rfm["as_of"] = pd.to_datetime(rfm["as_of"]).dt.strftime("%Y-%m-%d")
        parts = [
            f"<h4>Recently viewed (last {self.recent_days} days)</h4>",
            table_html(_products(c.recently_viewed)) if not c.recently_viewed.empty else "<i>nothing</i>",
            f"<h4>Recently bought (last {self.recent_days} days)</h4>",
            table_html(_products(c.recently_bought)) if not c.recently_bought.empty else "<i>nothing</i>",
            "<h4>Messages they respond to</h4>",
            table_html(msgs, {"opened": 0, "open_rate": 3, "click_rate": 3}),
            "<h4>RFM group history</h4>",
            table_html(rfm) if not rfm.empty else "<i>no RFM snapshots</i>",
        ]
        self.details.value = "".join(parts)
