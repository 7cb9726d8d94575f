"""Monitors: rules on a metric, a segment or a flow, evaluated daily, with alerts (docs/monitors.md).

>>> from cdp_lib.monitors import parse_monitor
>>> m = parse_monitor({"name": "Refunds", "kind": "metric", "metric": "Refunded Order",
...                    "conditions": [{"measure": "count", "period_days": 1, "op": ">", "threshold": 40}]})
>>> m.conditions[0].describe()
'count over the last 1 day(s) > 40'
"""

from cdp_lib.monitors.definition import (
    DEFAULT_FOLDER, MEASURES, Condition, MonitorDefinition, load_monitors, parse_monitor, parse_monitor_yaml,
)
from cdp_lib.monitors.evaluate import (
    ConditionResult, MonitorResult, check_condition, evaluate_days, evaluate_monitor, evaluate_series, period_value,
)
from cdp_lib.monitors.report import MonitorsParams, latest_results, monitor_series, monitors_params
from cdp_lib.monitors.series import daily_series
from cdp_lib.monitors.store import (
    RunRecord, alerts_table, record_result, results_table, run_monitors,
)

__all__ = [
    "DEFAULT_FOLDER", "MEASURES", "Condition", "ConditionResult", "MonitorDefinition", "MonitorResult",
    "MonitorsParams", "RunRecord", "latest_results", "monitor_series", "alerts_table", "check_condition", "daily_series", "evaluate_days",
    "evaluate_monitor", "evaluate_series", "load_monitors", "monitors_params", "parse_monitor",
    "parse_monitor_yaml", "period_value", "record_result", "results_table", "run_monitors",
]
