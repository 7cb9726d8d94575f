"""Catalog app: pick a product and see its three cards (repeat timing, same cart, next order)."""

from __future__ import annotations

import html

import ipywidgets as widgets

from cdp_lib.apps.base import App, fmt, table_html
from cdp_lib.catalog import product_cards
from cdp_lib.errors import NotComputedError
from cdp_lib.plots.catalog import plot_timing_histogram
from cdp_lib.plots.kpi import figure_png
from cdp_lib.workspace import Workspace


def _names(ws: Workspace) -> dict[str, str]:
    if not ws.has_table("catalog"):
        return {}
    cat = ws.catalog.select("product_id", "name").execute()
    return {str(r.product_id): str(r.name) for r in cat.itertuples(index=False)}


class CatalogApp(App):
    """A product picker (best sellers first) and its repeat-timing, same-cart and next-order cards."""

    title = "Catalog insights"

    def __init__(self, db=None, workspace=None):
        super().__init__(db, workspace)
        ws = self.ws
        self.names, options = {}, []
        if ws.has_table("catalog_repeat_timing"):
            self.names = names = _names(ws)
            t = ws.table("catalog_repeat_timing")
            timing = t.order_by([t.buyers.desc(), "product_id"]).execute()
            options = [(f"{names.get(p, p)} ({p})", p) for p in timing["product_id"]]
        self.product = widgets.Dropdown(options=options, description="Product",
                                        layout=widgets.Layout(width="420px"))
        self.timing = widgets.HTML()
        self.histogram = widgets.Image(format="png", layout=widgets.Layout(max_width="520px"))
        self.same_cart = widgets.HTML()
        self.next_order = widgets.HTML()
        self.cards = None
        self.controls = [self.product]
        self.product.observe(self.refresh, "value")
        self.container = self._frame([
            self.product,
            widgets.HTML("<h4>Repeat purchase timing</h4>"), self.timing, self.histogram,
            widgets.HTML("<h4>Bought in the same cart</h4>"), self.same_cart,
            widgets.HTML("<h4>Bought in the next order</h4>"), self.next_order,
        ])
        if options:
            self.refresh()
        else:  # shown in the page rather than raised: Voila hides tracebacks
            self.error = str(NotComputedError("catalog insights are not in the workspace yet; "
                                              "run 'cdp catalog-insights' first"))
            self.status.value = f'<div class="cdp-error">{html.escape(self.error)}</div>'

    def _named(self, frame, column):
        out = frame.copy()
        out.insert(1, "name", [self.names.get(p, p) for p in out[column]])
        return out

    def render(self, ws: Workspace) -> None:
        pid = self.product.value
        self.cards = cards = product_cards(ws, pid)
        t = cards["repeat_timing"]
        if t.empty:
            self.timing.value = "<div class='cdp-label'>no purchases in the window</div>"
        else:
            r = t.iloc[0]
            median = "–" if r.median_days_to_next_order != r.median_days_to_next_order else f"{r.median_days_to_next_order:g} days"
            self.timing.value = (
                "<div class='cdp-cards'>"
                f"<div class='cdp-card' data-card='buyers'><div class='cdp-label'>Buyers</div><div class='cdp-value'>{fmt(int(r.buyers))}</div></div>"
                f"<div class='cdp-card' data-card='repeat_share'><div class='cdp-label'>Ordered again within the window</div>"
                f"<div class='cdp-value'>{r.repeat_share_90d:.0%}</div></div>"
                f"<div class='cdp-card' data-card='median_days'><div class='cdp-label'>Median days to the next order</div>"
                f"<div class='cdp-value'>{html.escape(median)}</div></div></div>")
        self.histogram.value = figure_png(plot_timing_histogram(cards["histogram"], [pid]))
        cart = self._named(cards["same_cart"], "other_product_id")
        self.same_cart.value = table_html(cart[["other_product_id", "name", "orders_together", "co_purchase_rate"]],
                                          {"co_purchase_rate": 3})
        nxt = self._named(cards["next_order"], "next_product_id")
        self.next_order.value = table_html(nxt[["next_product_id", "name", "customers", "rate", "median_days"]],
                                           {"rate": 3, "median_days": 1})
