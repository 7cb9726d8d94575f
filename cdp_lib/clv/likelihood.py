"""Purchase and spend likelihoods on condensed customer rows: value and gradient in numpy.

lifetimes evaluates its likelihoods through autograd, once per row, and computes a Hessian
after every fit. These functions evaluate the SAME objectives (lifetimes' formulas, in the same
log-parameters, scaling and normalisation, penalty included) with hand-derived gradients,
grouping every term that depends on one column only by that column's distinct values, so one
evaluation costs a few vector operations over the rows. `cdp_lib.clv.models` runs them through the
optimiser lifetimes uses (scipy BFGS, same start, same `tol`), so the estimates are lifetimes'
estimates (tests/test_clv.py compares values, gradients and fits with lifetimes' own).

References
----------
- Fader, Hardie & Lee (2005), Marketing Science 24(2), section 7 -- BG/NBD likelihood.
- Batislam, Denizel & Filiztekin (2007), IJRM 24(3), 201-209, with Wagner & Hoppe (2008),
  IJRM 25(3), 225-226 -- MBG/NBD likelihood.
- Fader & Hardie (2013), http://www.brucehardie.com/notes/025/ -- Gamma-Gamma likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

def dot(a: np.ndarray, b: np.ndarray) -> float:
    """Σ a·b without BLAS (a threaded BLAS dot is slow on a busy machine)."""
    return float(np.multiply(a, b).sum())


def distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and, per row, the index of its value."""
    return np.unique(values, return_inverse=True)


@dataclass
class BgNbdRows:
    """BG/NBD or MBG/NBD input grouped for `bgnbd_objective`: weights per distinct x, per
    distinct T of one-time buyers, and the rows carrying a drop-out term as indexes into distinct
    x, T and t_x values (BG/NBD: repeat buyers only; MBG/NBD: every customer, `shift` 1)."""

    shift: float  # 0: BG/NBD; 1: MBG/NBD (a customer may also drop out right after the first purchase)
    x_values: np.ndarray
    x_weight: np.ndarray
    total_weight: float
    t0_values: np.ndarray  # distinct T of customers with x = 0
    t0_weight: np.ndarray
    T_values: np.ndarray  # repeat buyers: distinct T, t_x, x and per-row indexes
    T_index: np.ndarray
    tx_values: np.ndarray
    tx_index: np.ndarray
    xr_values: np.ndarray
    xr_index: np.ndarray
    x: np.ndarray
    w: np.ndarray

    @classmethod
    def build(cls, frequency, recency, T, weight, modified: bool = False) -> "BgNbdRows":
        x, t_x, T, w = (np.asarray(v, dtype=float) for v in (frequency, recency, T, weight))
        x_values, x_index = distinct(x)
        once = (x == 0) & (not modified)
        t0_values, t0_index = distinct(T[once])
        rep = ~once
        T_values, T_index = distinct(T[rep])
        tx_values, tx_index = distinct(t_x[rep])
        xr_values, xr_index = distinct(x[rep])
        return cls(1.0 if modified else 0.0, x_values, np.bincount(x_index, w), float(w.sum()), t0_values,
                   np.bincount(t0_index, w[once], len(t0_values)), T_values, T_index, tx_values, tx_index,
                   xr_values, xr_index, x[rep], w[rep])


def bgnbd_objective(log_params: np.ndarray, d: BgNbdRows, penalizer: float) -> tuple[float, np.ndarray]:
    """lifetimes' `BetaGeoFitter._negative_log_likelihood` (Fader, Hardie & Lee 2005, section 7)
    or, with `d.shift` 1, `ModifiedBetaGeoFitter._negative_log_likelihood` (Batislam et al. 2007),
    and its gradient in log-parameters.

    With k = `d.shift`, per customer: ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x+k) − ln B(a, b)
    − (r+x) ln(α+T) + ln(1 + e^δ), δ = ln a − ln(b+x−1+k) + (r+x)(ln(α+T) − ln(α+t_x)); BG/NBD
    has no δ term for customers with x = 0 (they cannot have dropped out), MBG/NBD has it for all.
    """
    params = np.exp(log_params)
    r, alpha, a, b = params
    k = d.shift
    xv, xw = d.x_values, d.x_weight
    # Terms of x only: ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x+k) − ln B(a, b).
    ll = dot(xw, (gammaln(r + xv) - gammaln(r) + gammaln(a + b) + gammaln(b + xv + k) - gammaln(b)
                     - gammaln(a + b + xv + k))) + d.total_weight * r * np.log(alpha)
    g_r = dot(xw, (digamma(r + xv) - digamma(r))) + d.total_weight * np.log(alpha)
    g_alpha = d.total_weight * r / alpha
    g_a = dot(xw, (digamma(a + b) - digamma(a + b + xv + k)))
    g_b = dot(xw, (digamma(a + b) + digamma(b + xv + k) - digamma(b) - digamma(a + b + xv + k)))
    # BG/NBD's one-time buyers: −r ln(α + T) (empty for MBG/NBD).
    log_t0 = np.log(alpha + d.t0_values)
    ll -= r * dot(d.t0_weight, log_t0)
    g_r -= dot(d.t0_weight, log_t0)
    g_alpha -= r * dot(d.t0_weight, (1.0 / (alpha + d.t0_values)))
    # Rows with a drop-out term: −(r+x) ln(α+T) + ln(1 + e^δ).
    log_T = np.log(alpha + d.T_values)[d.T_index]
    inv_T = (1.0 / (alpha + d.T_values))[d.T_index]
    log_tx = np.log(alpha + d.tx_values)[d.tx_index]
    inv_tx = (1.0 / (alpha + d.tx_values))[d.tx_index]
    rx = r + d.x
    gap = log_T - log_tx
    delta = np.log(a) - np.log(b + d.xr_values - 1.0 + k)[d.xr_index] + rx * gap
    tail = np.exp(-np.abs(delta))
    share = np.where(delta >= 0, 1.0, tail) / (1.0 + tail)  # d ln(1 + e^δ) / dδ
    w = d.w
    ll += dot(w, np.maximum(delta, 0.0) + np.log1p(tail) - rx * log_T)
    ws = w * share
    g_r += dot(ws, gap) - dot(w, log_T)
    g_alpha += dot(ws, (rx * (inv_T - inv_tx))) - dot(w, (rx * inv_T))
    g_a += float(ws.sum()) / a
    g_b -= dot(np.bincount(d.xr_index, ws, len(d.xr_values)), 1.0 / (b + d.xr_values - 1.0 + k))
    grad = np.array([g_r, g_alpha, g_a, g_b]) * params  # chain rule for log-parameters
    value = -ll / d.total_weight + penalizer * float(np.sum(params ** 2))
    return value, -grad / d.total_weight + 2.0 * penalizer * params ** 2


@dataclass
class GammaGammaRows:
    """Gamma-Gamma input: weights per distinct x, and per row x, ln(x m) and the weight."""

    x_values: np.ndarray
    x_weight: np.ndarray
    total_weight: float
    sum_log_m: float  # Σ w ln m
    x: np.ndarray
    xm: np.ndarray
    log_xm: np.ndarray
    w: np.ndarray

    @classmethod
    def build(cls, frequency, monetary_value, weight) -> "GammaGammaRows":
        x, m, w = (np.asarray(v, dtype=float) for v in (frequency, monetary_value, weight))
        x_values, x_index = distinct(x)
        return cls(x_values, np.bincount(x_index, w), float(w.sum()), dot(w, np.log(m)), x, x * m,
                   np.log(x * m), w)


def gamma_gamma_objective(log_params: np.ndarray, d: GammaGammaRows, penalizer: float) -> tuple[float, np.ndarray]:
    """lifetimes' `GammaGammaFitter._negative_log_likelihood` (Fader & Hardie 2013, eq. 1a) and
    its gradient in log-parameters.

    Per customer the log-likelihood is ln Γ(px+q) − ln Γ(px) − ln Γ(q) − px·ln((xm+v)/(xm))
    − q·ln((xm+v)/v) − ln m: lifetimes' terms regrouped so that no large sums cancel.
    """
    params = np.exp(log_params)
    p, q, v = params
    xv, xw, n = d.x_values, d.x_weight, d.total_weight
    px = p * xv
    log_xmv = np.log(d.xm + v)
    over_xm = log_xmv - d.log_xm  # ln((xm+v)/(xm))
    over_v = log_xmv - np.log(v)  # ln((xm+v)/v)
    wx_over_xm = dot(d.w, (d.x * over_xm))
    w_over_v = dot(d.w, over_v)
    ll = dot(xw, (gammaln(px + q) - gammaln(px) - gammaln(q))) - p * wx_over_xm - q * w_over_v - d.sum_log_m
    g_p = dot(xw, (xv * (digamma(px + q) - digamma(px)))) - wx_over_xm
    g_q = dot(xw, (digamma(px + q) - digamma(q))) - w_over_v
    # d/dv of −(px+q) ln(xm+v) + q ln v is x (q m − p v) / (v (xm+v)) per customer.
    g_v = dot(d.w, (d.x * (q * d.xm / d.x - p * v) / (v * (d.xm + v))))
    grad = np.array([g_p, g_q, g_v]) * params
    value = -ll / n + penalizer * float(np.sum(params ** 2))
    return value, -grad / n + 2.0 * penalizer * params ** 2


