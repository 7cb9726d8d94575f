"""What a CLV run reports: `ClvReport` (parameters, data window, confidence) and tables for people."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from cdp_lib.clv.params import MIN_P_ALIVE_FOR_NEXT_ORDER, MODEL_NAMES
from cdp_lib.clv.predict import PREDICTION_COLUMNS
from cdp_lib.errors import InputError
from cdp_lib.workspace import Workspace


def confidence_label(customers: int, repeat_customers: int) -> str:
    """How far to trust the model, from the data it saw.

    high: at least 2,000 customers and 500 repeat customers; medium: at least 500 customers
    and 100 repeat customers; low otherwise (parameters rest on few repeat purchases).
    """
    if customers >= 2000 and repeat_customers >= 500:
        return "high"
    if customers >= 500 and repeat_customers >= 100:
        return "medium"
    return "low"


@dataclass
class ClvReport:
    """What a CLV run used and found: model parameters, data window, confidence, exclusions."""

    model: str
    transaction_params: dict
    log_likelihood: float
    spend_params: dict
    n_customers: int
    n_repeat_customers: int
    first_order_date: str
    as_of: str
    time_unit: str
    horizon_days: int
    discount_rate: float
    confidence: str
    excluded_negative_orders: int = 0
    excluded_spend_customers: int = 0
    population_days_between_orders: float | None = None
    min_p_alive_for_next_order: float = MIN_P_ALIVE_FOR_NEXT_ORDER
    next_order_dates_withheld: int = 0  # customers who ordered but have P(alive) below the threshold
    validation: dict | None = None

    @property
    def model_name(self) -> str:
        """The purchase model's name as people read it, e.g. `Modified BG/NBD`."""
        return MODEL_NAMES[self.model]

    def churn_note(self) -> str:
        """One sentence saying where churn figures and next-order dates come from."""
        return (
            f"Churn probability = 1 - P(alive) from the {self.model_name} model; no expected next-order date "
            f"for {self.next_order_dates_withheld:,} customers with P(alive) below {self.min_p_alive_for_next_order:g}"
        )

    def params_json(self) -> dict:
        """The params file: `{"model": "mbgnbd", "mbgnbd"|"bgnbd"|"pareto": {...}, "gamma_gamma": {...},
        n_customers, as_of, time_unit, ...}`."""
        out = {
            self.model: self.transaction_params,
            "gamma_gamma": self.spend_params,
            "n_customers": self.n_customers,
            "as_of": self.as_of,
            "time_unit": self.time_unit,
        }
        out.update({k: v for k, v in asdict(self).items() if k not in {"transaction_params", "spend_params", "model"}
                    and k not in out})
        out["model"] = self.model
        out["model_name"] = self.model_name
        return out

    def write_params(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.params_json(), indent=2, default=str) + "\n")

    def summary_frame(self) -> pd.DataFrame:
        """Two columns (`item`, `value`) for display in a notebook or terminal."""
        rows = [("purchase and churn model", self.model_name)]
        rows += [(f"{self.model_name} {k}", round(v, 4)) for k, v in self.transaction_params.items()]
        rows += [(f"Gamma-Gamma {k}", round(v, 4)) for k, v in self.spend_params.items()]
        rows += [
            ("log-likelihood", round(self.log_likelihood, 1)),
            ("customers", self.n_customers),
            ("repeat customers", self.n_repeat_customers),
            ("data window", f"{self.first_order_date} to {self.as_of}"),
            ("time unit", self.time_unit),
            ("horizon (days)", self.horizon_days),
            ("annual discount rate", self.discount_rate),
            ("confidence", self.confidence),
            ("no next-order date below P(alive)", self.min_p_alive_for_next_order),
            ("customers without a next-order date (probably gone)", self.next_order_dates_withheld),
        ]
        return pd.DataFrame(rows, columns=["item", "value"]).astype({"value": str})


# -- tables for people -------------------------------------------------------------------------
def top_customers(ws: Workspace, predictions: ir.Table, n: int = 20, by: str = "total_clv") -> pd.DataFrame:
    """The `n` profiles with the highest `by`, with their external id and email (pandas)."""
    if by not in predictions.columns:
        raise InputError(f"by: {by!r} is not a CLV column; expected one of {', '.join(PREDICTION_COLUMNS[2:])}")
    top = predictions.filter(predictions[by].notnull()).order_by(ibis.desc(by)).limit(n)
    who = ws.profiles.select("profile_id", "external_id", "email")
    out = top.left_join(who, "profile_id").select(top.profile_id, who.external_id, who.email, *[
        top[c] for c in ("historic_clv", "predicted_clv", "total_clv", "historic_orders", "predicted_orders",
                         "p_alive", "churn_risk", "expected_next_order_date")])
    return out.order_by(ibis.desc(by)).execute()


def churn_risk_summary(predictions: ir.Table) -> pd.DataFrame:
    """Per churn-risk band: customers, share, mean P(alive), summed historic and predicted CLV."""
    p = predictions.filter(predictions.churn_risk.notnull())
    t = p.group_by("churn_risk").agg(
        customers=p.count(), mean_p_alive=p.p_alive.mean(),
        historic_clv=p.historic_clv.sum(), predicted_clv=p.predicted_clv.sum(),
    ).execute()
    t = t.set_index("churn_risk").reindex(["low", "medium", "high"]).fillna(0).reset_index()
    t.insert(2, "share", t["customers"] / max(t["customers"].sum(), 1))
    return t.astype({"customers": int})
