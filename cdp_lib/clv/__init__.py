"""Predictive customer lifetime value: MBG/NBD, BG/NBD or Pareto/NBD purchases + Gamma-Gamma spend.

One module per job, each importing only the ones above it in this list:

- `params`: `ClvParams` (validated parameters), model names, time units, `ClvWarning`;
- `summary`: the order events of a run and per-customer summary statistics, in the engine;
- `likelihood`: the condensed (M)BG/NBD and Gamma-Gamma likelihoods with their gradients;
- `models`: fitting (the only module that imports `lifetimes`), `TransactionModel`, `SpendModel`;
- `predict`: scores per customer (expected orders, P(alive), value, churn band, next order);
- `validation`: calibration/holdout comparison and the frequency/recency matrices;
- `report`: `ClvReport` and the tables shown to people (`top_customers`, `churn_risk_summary`);
- `store`: writing `clv_predictions`;
- `run`: `compute_clv`, `run_clv` and `ClvResult`.

The names below are re-exported here (``from cdp_lib.clv import ClvParams, run_clv``) and loaded
on first use, so importing `cdp_lib.clv.params` alone does not load scipy or `lifetimes`.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "params": ("DEFAULT_MODEL", "MIN_P_ALIVE_FOR_NEXT_ORDER", "MODELS", "MODEL_NAMES", "PARAM_NAMES",
               "TIME_UNITS", "ClvParams", "ClvWarning", "unit_days"),
    "summary": ("orders_table", "summary_table"),
    "models": ("DEFAULT_TOL", "WARM_START_ROWS", "SpendModel", "TransactionModel", "fit_models", "fit_spend",
               "fit_transactions"),
    "predict": ("CHURN_CUTOFFS", "DISCOUNT_STEP_DAYS", "PREDICTION_COLUMNS", "churn_risk_expr",
                "score_combinations", "score_summary"),
    "validation": ("POOLED_FREQUENCY", "HoldoutValidation", "frequency_recency_matrix", "validate_holdout"),
    "report": ("ClvReport", "churn_risk_summary", "confidence_label", "top_customers"),
    "store": ("PREDICTIONS_TABLE", "store_predictions"),
    "run": ("ClvResult", "compute_clv", "run_clv"),
}
_SUBMODULES = ("likelihood", *_EXPORTS)
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})
