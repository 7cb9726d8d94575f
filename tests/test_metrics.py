"""Custom metrics: the shipped recipes, validation messages and the uniform events_for table."""

from __future__ import annotations

import pandas as pd
import pytest

from cdp_lib.errors import InputError
from cdp_lib.metrics import events_for, load_metrics, metric_aggregation, parse_metric
from cdp_lib.testing import workspace_from_frames

EVENTS = pd.DataFrame({
    "event_id": ["o1", "o2", "o3", "o4", "v1"],
    "profile_id": ["a", "a", "b", "c", "a"],
    "metric": ["Placed Order"] * 4 + ["Viewed Product"],
    "timestamp": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"],
    "value": [10.0, 20.0, 30.0, 40.0, None],
    "source": ["web", "POS", "web", None, "web"],
    "source_name": ["shopify", "pos", "subscription", "subscription", None],
    "product_id": [None, None, None, None, "sku1"],
    "discount": [1.0, 2.0, 3.0, 4.0, None],
})
CATALOG = pd.DataFrame({"product_id": ["sku1"], "category": ["Shoes"]})


@pytest.fixture(scope="module")
def ws():
    return workspace_from_frames(events=EVENTS, catalog=CATALOG)


def selected(ws, name, metrics=None):
    df = events_for(ws, name, metrics).execute()
    return df.sort_values("event_id")


def test_shipped_recipes(ws):
    shipped = load_metrics()
    assert set(shipped) >= {"Placed Order (online only)", "Placed Order (excluding subscriptions)", "All revenue"}
    # POS is excluded; an order with no source is not POS, so it stays
    assert list(selected(ws, "Placed Order (online only)").event_id) == ["o1", "o3", "o4"]
    assert list(selected(ws, "Placed Order (excluding subscriptions)").event_id) == ["o1", "o2"]
    # web orders plus subscription orders; o3 is both and counts once
    revenue = selected(ws, "All revenue")
    assert list(revenue.event_id) == ["o1", "o3", "o4"] and revenue.value.sum() == 80.0
    assert metric_aggregation("All revenue") == "value"
    assert metric_aggregation("Placed Order") == "count"


def test_uniform_columns_for_raw_and_custom_metrics(ws):
    raw = events_for(ws, "Placed Order")
    custom = events_for(ws, "Placed Order (online only)")
    assert raw.columns == custom.columns
    assert {"profile_id", "timestamp", "value", "event_id", "metric", "source"} <= set(custom.columns)
    assert set(custom.metric.execute()) == {"Placed Order (online only)"}


def test_value_property_and_catalog_filters(ws):
    spec = {"name": "Discounts", "aggregation": "value",
            "groups": [{"metric": "Placed Order", "value_property": "discount"}]}
    assert list(selected(ws, "Discounts", {"Discounts": parse_metric(spec, "x.yaml")}).value) == [1.0, 2.0, 3.0, 4.0]
    spec = {"name": "Shoe views", "groups": [{"metric": "Viewed Product",
                                               "where": [{"property": "category", "op": "equals", "value": "Shoes"}]}]}
    assert list(selected(ws, "Shoe views", {"Shoe views": parse_metric(spec, "x.yaml")}).event_id) == ["v1"]


def test_unknown_metric_suggests_the_closest_names(ws):
    with pytest.raises(InputError, match=r"metric 'Placed Ordr' .*did you mean 'Placed Order'"):
        events_for(ws, "Placed Ordr")
    with pytest.raises(InputError, match=r"did you mean 'All revenue'"):
        events_for(ws, "All revenu")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "x", "groups": []}, r"m.yaml: groups: expected a non-empty list"),
        ({"name": "x", "aggregation": "sum", "groups": [{"metric": "A"}]}, r"m.yaml: aggregation: expected one of"),
        ({"name": "x", "groups": [{"metric": "A", "where": [{"property": "s", "op": "is"}]}]},
         r"m.yaml: groups\[0\].where\[0\].op: unknown operator 'is'"),
        ({"name": "x", "groups": [{"metric": "A", "filter": []}]}, r"m.yaml: groups\[0\]: unknown key 'filter'"),
        ({"groups": [{"metric": "A"}]}, r"m.yaml: name: expected the metric's name"),
    ],
)
def test_definition_errors_name_file_and_yaml_path(spec, message):
    with pytest.raises(InputError, match=message):
        parse_metric(spec, "m.yaml")


def test_unknown_property_and_value_column_are_reported_with_suggestions(ws):
    spec = {"name": "x", "groups": [{"metric": "Placed Order", "where": [{"property": "sourse", "op": "is_set"}]}]}
    with pytest.raises(InputError, match=r"m.yaml: groups\[0\].where\[0\].property: unknown property 'sourse'; did you mean 'source'"):
        events_for(ws, "x", {"x": parse_metric(spec, "m.yaml")})
    spec = {"name": "x", "groups": [{"metric": "Placed Order", "value_property": "source"}]}
    with pytest.raises(InputError, match=r"value_property: column 'source' is string, expected a number"):
        events_for(ws, "x", {"x": parse_metric(spec, "m.yaml")})


def test_files_in_a_folder_and_duplicate_names(tmp_path):
    (tmp_path / "a.yaml").write_text("name: A\ngroups:\n  - metric: Placed Order\n")
    assert list(load_metrics(tmp_path)) == ["A"]
    (tmp_path / "b.yaml").write_text("name: A\ngroups:\n  - metric: Viewed Product\n")
    with pytest.raises(InputError, match=r"b.yaml: metric 'A' is already defined in .*a.yaml"):
        load_metrics(tmp_path)
    (tmp_path / "b.yaml").write_text("name: [unclosed\n")
    with pytest.raises(InputError, match=r"b.yaml: not valid YAML"):
        load_metrics(tmp_path)
