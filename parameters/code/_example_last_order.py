"""Example handler (ignored while its name starts with '_'; copy it to last_order.py to enable).

For each new Placed Order event, store the order's value and a VIP flag on the profile; both
become ordinary profile properties usable in segment conditions (`{property: is_big_spender, ...}`).
"""

METRIC = "Placed Order"
TIMEOUT_SECONDS = 5


def handle(event, profile):
    value = event.get("value") or 0.0
    return {"last_order_value": value, "is_big_spender": value >= 200}
