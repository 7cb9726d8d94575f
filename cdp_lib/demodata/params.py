"""Parameters of the demo store's generating processes (see docs/demo-data.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StoreParams:
    """Parameters of the generating processes (rates per day, money in dollars)."""

    # BG/NBD purchasing (Fader, Hardie & Lee 2005, "Counting your customers the easy way"):
    # purchase rate lambda ~ Gamma(shape r, rate alpha) per day while alive; after every
    # purchase the customer drops out for good with probability p ~ Beta(a, b).
    r: float = 0.9
    alpha: float = 60.0
    a: float = 0.8
    b: float = 3.0
    # Gamma-gamma spend (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999):
    # order value ~ Gamma(shape p, rate nu), nu ~ Gamma(shape q, rate gamma); mean order
    # value p * gamma / (q - 1) = 100 dollars.
    p: float = 6.0
    q: float = 4.0
    gamma: float = 50.0
    buyer_share: float = 0.6  # people who ever place an order (the rest only browse / read)
    first_order_mean_days: float = 5.0  # sign-up to first order, exponential
    email_consent_share: float = 0.78
    phone_share: float = 0.7
    sms_consent_share: float = 0.45  # of people with a phone
    account_share: float = 0.8  # people with a store account (an external_id)
    dual_identity_share: float = 0.03  # of people with a phone: a second, phone-only record
    pos_shopper_share: float = 0.2
    subscriber_share: float = 0.07  # of buyers: subscription orders
    return_rate: float = 0.06
    refund_after_return: float = 0.75
    refund_without_return: float = 0.01
    cancel_rate: float = 0.01
    hard_bounce_share: float = 0.003
    persistent_soft_bounce_share: float = 0.004
    random_soft_bounce_rate: float = 0.003


PARAMS = StoreParams()
