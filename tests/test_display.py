"""Display layer: every format rule, tables, the currency setting and the sentence functions,
each checked against values written out by hand."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from cdp_lib.display import format as fmt
from cdp_lib.display import narrative, settings
from cdp_lib.display.table import column_kind, format_frame, table, text_table
from cdp_lib.errors import InputError


@pytest.fixture(autouse=True)
def usd(monkeypatch, tmp_path):
    """Tests see USD unless they set another currency (no project file of the checkout leaks in)."""
    monkeypatch.setenv("CDP_PROJECT_DIR", str(tmp_path))
    monkeypatch.delenv("CDP_CURRENCY", raising=False)


# -- single values --------------------------------------------------------------------------
@pytest.mark.parametrize("value,text", [
    (0, "0"), (12345, "12,345"), (-1234567, "-1,234,567"), (np.int64(3000), "3,000"), (2.0, "2"),
    (1234.5678, "1,234.57"), (1e-7, "0.00"), (1.5e12, "1,500,000,000,000"), (-0.001, "0.00"),
    (None, "—"), (float("nan"), "—"), (pd.NA, "—"), (pd.NaT, "—"), (True, "yes"), (math.inf, "∞"),
])
def test_number(value, text):
    assert fmt.number(value) == text


def test_number_never_uses_scientific_notation():
    for v in (1e-12, 3.2e-5, 7.7e15, 123456789012.345):
        assert "e" not in fmt.number(v).lower()
    assert fmt.number(3.2e-5, 6) == "0.000032"


@pytest.mark.parametrize("value,currency,text", [
    (1234.5, "USD", "$1,234.50"), (0, "USD", "$0.00"), (-12, "USD", "-$12.00"), (-0.001, "USD", "$0.00"),
    (1234.5, "EUR", "€1,234.50"), (1234.5, "JPY", "¥1,234"), (1235.5, "KRW", "₩1,236"),
    (99.999, "CHF", "100.00 CHF"), (None, "USD", "—"), (float("nan"), "EUR", "—"), (2.5e9, "usd", "$2,500,000,000.00"),
])
def test_money(value, currency, text):
    assert fmt.money(value, currency) == text


def test_money_uses_the_workspace_currency(tmp_path, monkeypatch):
    assert fmt.money(5) == "$5.00"  # no settings file: USD
    (tmp_path / "parameters").mkdir()
    (tmp_path / "parameters" / "workspace.yaml").write_text("currency: eur\n")
    assert settings.currency() == "EUR" and fmt.money(5) == "€5.00"
    monkeypatch.setenv("CDP_CURRENCY", "GBP")
    assert fmt.money(5) == "£5.00"


@pytest.mark.parametrize("text,match", [
    ("currency: EURO\n", "three-letter ISO 4217"), ("currency: 12\n", "three-letter"),
    ("curency: EUR\n", "unknown setting 'curency'.*did you mean 'currency'"), ("- EUR\n", "expected a mapping"),
    ("currency: [\n", "not valid YAML"),
])
def test_bad_settings_file_is_one_clear_error(tmp_path, text, match):
    path = tmp_path / "parameters" / "workspace.yaml"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        settings.currency()


@pytest.mark.parametrize("value,kwargs,text", [
    (0.742, {}, "74.2 %"), (0.74249, {}, "74.2 %"), (1, {}, "100.0 %"), (0, {}, "0.0 %"), (74.2, {"ratio": False}, "74.2 %"),
    (0.184, {"signed": True}, "+18.4 %"), (-0.05, {"signed": True}, "-5.0 %"), (0.0, {"signed": True}, "0.0 %"),
    (-0.00001, {}, "0.0 %"), (None, {}, "—"), (float("inf"), {}, "—"), (0.5, {"decimals": 0}, "50 %"),
])
def test_percent(value, kwargs, text):
    assert fmt.percent(value, **kwargs) == text


@pytest.mark.parametrize("value,text", [
    (12.4, "12"), (12.6, "13"), (1096, "1,096"), (dt.timedelta(days=2, hours=13), "3"), (None, "—"),
    (np.float64("nan"), "—"),
])
def test_days_are_whole_numbers(value, text):
    assert fmt.days(value) == text


def test_dates_and_cells():
    assert fmt.date(pd.Timestamp("2025-06-30 13:00", tz="UTC")) == "2025-06-30"
    assert fmt.date(dt.date(2025, 1, 2)) == "2025-01-02" and fmt.date("2025-01-02T00:00:00") == "2025-01-02"
    assert fmt.cell(pd.Timestamp("2025-06-30 13:05")) == "2025-06-30 13:05"
    assert fmt.cell(pd.Timestamp("2025-06-30")) == "2025-06-30"
    assert fmt.cell(np.bool_(False)) == "no" and fmt.cell(np.float64(2.5)) == "2.50"


def test_dicts_and_lists_are_never_raw():
    assert fmt.inline({"holdout_days": 180, "error": 0.042, "ok": True}) == "holdout days: 180; error: 0.04; ok: yes"
    assert fmt.inline(["a.csv", "b.png"]) == "a.csv, b.png"
    assert fmt.inline(("x", None)) == "x, —"
    assert fmt.inline({"nested": {"a": [1, 2]}}) == "nested: a: 1, 2"
    assert fmt.inline([]) == "—" and fmt.inline({}) == "—"
    assert fmt.inline(np.array([1, 2000])) == "1, 2,000"
    for value in ({"a": 1}, [1, 2]):
        assert not any(ch in fmt.cell(value) for ch in "{}[]'")


def test_inline_keeps_dict_keys_as_written():
    # keys are shown as given, only underscores of identifiers read as spaces
    assert fmt.inline({"holdout_days": 1}) == "holdout days: 1"


def test_long_text_is_wrapped_not_cut():
    words = "the quick brown fox jumps over the lazy dog " * 5
    wrapped = fmt.wrap(words, 30)
    assert all(len(line) <= 30 for line in wrapped.split("\n"))
    assert wrapped.replace("\n", " ") == words.strip()
    assert fmt.wrap("https://example.com/a-very-long-address-without-spaces", 10).count("\n") == 0


# -- tables ---------------------------------------------------------------------------------
def test_column_kinds_by_name_and_dtype():
    s = pd.Series
    assert column_kind("revenue", s([1.0])) == "money" and column_kind("predicted_clv", s([1.0])) == "money"
    assert column_kind("median_monetary", s([1.0])) == "money"
    assert column_kind("conversion_from_start", s([0.5])) == "percent" and column_kind("retention", s([0.5])) == "percent"
    assert column_kind("pct_change", s([5.0])) == "points"
    assert column_kind("median_recency_days", s([3.0])) == "days"
    assert column_kind("customers", s([3])) == "count" and column_kind("frequency", s([3.5])) == "number"
    assert column_kind("as_of", s(pd.to_datetime(["2025-01-01"]))) == "date"
    assert column_kind("rfm_group", s(["Loyal"])) == "text"
    assert column_kind("median_seconds_to_step", s([1419.78])) == "count"  # shown as 1,420


def test_format_frame_formats_every_cell_and_drops_the_index():
    df = pd.DataFrame({"rfm_group": ["Champions", "At Risk"], "customers": [12345, 7],
                       "revenue": [1234567.891, np.nan], "share": [74.2, 0.0], "conversion": [0.1234, None],
                       "median_recency_days": [12.6, 400.2], "files": [["a.csv", "b.png"], []]},
                      index=[10, 11])
    out = format_frame(df, kinds={"share": "points"}, currency="EUR")
    assert list(out.index) == [0, 1]
    assert list(out.columns) == ["rfm group", "customers", "revenue", "share", "conversion", "median recency days",
                                 "files"]
    assert out.iloc[0].tolist() == ["Champions", "12,345", "€1,234,567.89", "74.2 %", "12.3 %", "13", "a.csv, b.png"]
    assert out.iloc[1].tolist() == ["At Risk", "7", "—", "0.0 %", "—", "400", "—"]


def test_named_index_becomes_a_column():
    pivot = pd.DataFrame({"0": [1.0], "1": [0.25]}, index=pd.Index(["2025-01"], name="cohort"))
    out = format_frame(pivot, kinds={"0": "percent", "1": "percent"})
    assert out.iloc[0].tolist() == ["2025-01", "100.0 %", "25.0 %"]


def test_unknown_kind_is_refused():
    with pytest.raises(InputError, match="table kinds .*'cash'.*expected one of"):
        format_frame(pd.DataFrame({"a": [1]}), kinds={"a": "cash"})


def test_html_table_has_no_index_and_no_raw_values():
    df = pd.DataFrame({"segment": ["vip"], "members": [1234], "value": [np.nan], "meta": [{"a": 1}]})
    html = table(df)._repr_html_()
    assert "<th>segment</th>" in html and "1,234" in html and "—" in html and "a: 1" in html
    assert "NaN" not in html and "{" not in html.split("<style>")[0] and "<th></th>" not in html
    assert 'class="num"' in html  # numbers right-aligned


def test_text_table_fits_a_width_by_wrapping_text():
    frame = pd.DataFrame({"name": ["a segment with a rather long descriptive name"], "members": ["1,234"],
                          "description": ["people who ordered three times or more within the last year"]})
    out = text_table(frame, max_width=60)
    assert all(len(line) <= 60 for line in out.split("\n"))
    assert "1,234" in out and "descriptive" in out and "year" in out


# -- sentences (expected values computed by hand in the comments) -------------------------------
def distribution(rows):
    return pd.DataFrame(rows, columns=["rfm_group", "customers_start", "customers_end"])


def transitions(rows):
    return pd.DataFrame(rows, columns=["from_group", "to_group", "customers"])


def test_rfm_change_sentence_names_the_biggest_change_and_its_source():
    dist = distribution([("Loyal", 100, 80), ("At Risk", 125, 148), ("Inactive", 50, 49)])
    # At Risk +23 is the largest change; 23 / 125 = 18.4 %; into At Risk: Loyal 20, Inactive 3
    moves = transitions([("Loyal", "At Risk", 20), ("Inactive", "At Risk", 3), ("At Risk", "At Risk", 125),
                         ("Loyal", "Loyal", 80), ("Inactive", "Inactive", 46)])
    assert narrative.rfm_change_sentence(dist, moves, "2026-09-02") == (
        "At Risk grew 18.4 % since 2026-09-02, mostly from Loyal (20 customers).")


def test_rfm_change_sentence_for_a_shrinking_group_and_no_change():
    dist = distribution([("Champions", 40, 10), ("Loyal", 10, 12)])
    # Champions -30 of 40 = 75.0 %; leavers went to Loyal 2 and At Risk 28
    moves = transitions([("Champions", "Loyal", 2), ("Champions", "At Risk", 28), ("Champions", "Champions", 10)])
    assert narrative.rfm_change_sentence(dist, moves, dt.date(2025, 4, 1)) == (
        "Champions shrank 75.0 % since 2025-04-01, mostly to At Risk (28 customers).")
    same = distribution([("Loyal", 5, 5)])
    assert narrative.rfm_change_sentence(same, transitions([]), "2025-04-01") == "No group changed size since 2025-04-01."
    new = distribution([("Recent", 0, 7)])
    assert narrative.rfm_change_sentence(new, transitions([("Never purchased", "Recent", 7)]), "2025-04-01") == (
        "Recent grew from 0 to 7 since 2025-04-01, mostly from Never purchased (7 customers).")


def test_rfm_summary():
    counts = pd.DataFrame({"rfm_group": ["Champions", "Loyal", "Inactive"], "customers": [10, 30, 60]})
    revenue = counts.assign(revenue=[500.0, 300.0, 200.0])
    # 100 customers; Inactive 60 % largest; Champions bring 500 / 1000 = 50.0 %
    assert narrative.rfm_summary(counts, revenue, "2025-06-30") == (
        "On 2025-06-30, 100 customers who ordered fall into six groups; the largest is Inactive (60.0 % of "
        "customers). Champions are 10.0 % of customers and bring 50.0 % of revenue.")
    empty = counts.assign(customers=0)
    assert "no customer has ordered yet" in narrative.rfm_summary(empty, None, "2025-06-30")


def test_funnel_summary_and_breakdown():
    steps = pd.DataFrame({"step": [1, 2, 3], "metric": ["Viewed Product", "Added to Cart", "Placed Order"],
                          "profiles": [1200, 360, 114]})
    # 114 / 1200 = 9.5 %; drops: 1 - 360/1200 = 70 %, 1 - 114/360 = 68.3 %
    assert narrative.funnel_summary(steps, "2025-06-01", "2025-06-30", "14d") == (
        "Between 2025-06-01 and 2025-06-30, 1,200 people did Viewed Product; 9.5 % of them reached Placed Order "
        "within 14d. The biggest drop is from Viewed Product to Added to Cart: 70.0 % of people did not continue.")
    nobody = steps.assign(profiles=0)
    assert narrative.funnel_summary(nobody, "2025-06-01", "2025-06-30", "14d").endswith("nobody entered the funnel.")
    by = pd.DataFrame({"country": ["US", "US", "DE", "DE", "FR", "FR"], "step": [1, 2] * 3,
                       "profiles": [100, 12, 50, 2, 0, 0]})
    # US 12 %, DE 4 %, FR left out (nobody entered)
    assert narrative.breakdown_sentence(by, "country") == "Conversion is highest for US (12.0 %) and lowest for DE (4.0 %)."


def test_cohort_summary_weighs_by_size_and_skips_running_periods():
    rows = [("2025-01", 0, 100, 100, 1.0, True), ("2025-01", 1, 100, 20, 0.2, True),
            ("2025-02", 0, 300, 300, 1.0, True), ("2025-02", 1, 300, 30, 0.1, True),
            ("2025-03", 0, 50, 50, 1.0, True), ("2025-03", 1, 50, 40, 0.8, False)]
    df = pd.DataFrame(rows, columns=["cohort", "period", "customers", "active_customers", "retention", "period_complete"])
    # complete period-1 cells: (20 + 30) / (100 + 300) = 12.5 %; best complete: 2025-01 at 20 %
    assert narrative.cohort_summary(df, "month") == (
        "3 monthly cohorts from 2025-01 to 2025-03 (450 customers). On average 12.5 % of a cohort is active again "
        "one month after its first; best: 2025-01 (20.0 %).")


def test_change_phrase_and_words():
    assert narrative.change_phrase(125, 148) == "grew 18.4 %"
    assert narrative.change_phrase(40, 10) == "shrank 75.0 %"
    assert narrative.change_phrase(3, 3) == "stayed at 3"
    assert narrative.join_words(["a", "b", "c"]) == "a, b and c" and narrative.plural(1, "person", "people") == "1 person"


def test_summary_renders_escaped_html_and_plain_text():
    s = narrative.summary("Revenue <up>.", "", "Second.")
    assert str(s) == "Revenue <up>. Second."
    assert "&lt;up&gt;" in s._repr_html_() and 'class="cdp-summary"' in s._repr_html_()


def test_pairs_formats_values_by_their_key_and_keeps_given_decimals():
    from cdp_lib.display.table import pairs

    shown = pairs({"customers": "1799", "Modified BG/NBD r": "0.7417", "log-likelihood": "-20464.9",
                   "holdout_error_pct": 15.3, "annual discount rate": 0.1, "predicted_revenue": 1234.5,
                   "data window": "2023-07-06 to 2025-06-30", "external id": "00123", "ok": True}).frame
    assert shown.set_index("item")["value"].to_dict() == {
        "customers": "1,799", "Modified BG/NBD r": "0.7417", "log-likelihood": "-20,464.9",
        "holdout error pct": "15.3 %", "annual discount rate": "10.0 %", "predicted revenue": "$1,234.50",
        "data window": "2023-07-06 to 2025-06-30", "external id": "00123", "ok": "yes"}


def test_per_row_kinds_for_tables_of_mixed_measures():
    df = pd.DataFrame({"metric": ["Revenue", "Orders", "Average order value", "Conversion rate", "Mean items"],
                       "value": [45439.351, 459.0, 99.0, 0.125, 2.345], "change_pct": [24.4, 17.1, 6.2, -1.0, 0.0]})
    out = format_frame(df, per_row=("metric", ["value"]))
    assert out["value"].tolist() == ["$45,439.35", "459", "$99.00", "12.5 %", "2.35"]
    assert out["change pct"].tolist() == ["24.4 %", "17.1 %", "6.2 %", "-1.0 %", "0.0 %"]


def test_datetime_columns_keep_their_time_and_empty_tables_say_none():
    df = pd.DataFrame({"watermark": pd.to_datetime(["2026-12-01 12:23:16", "2026-12-01 00:00:00"], utc=True)})
    assert format_frame(df)["watermark"].tolist() == ["2026-12-01 12:23", "2026-12-01"]
    html = table(pd.DataFrame({"trigger": [], "changes": []}))._repr_html_()
    assert '<td class="empty" colspan="2">none</td>' in html


def test_charts_have_titles_and_axis_labels_with_units(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from cdp_lib.plots import audience, funnel, health, kpi
    from cdp_lib.plots import rfm as rfm_plots

    (tmp_path / "parameters").mkdir()
    (tmp_path / "parameters" / "workspace.yaml").write_text("currency: EUR\n")
    medians = pd.DataFrame({"rfm_group": ["Champions"], "median_monetary": [10.0]})
    revenue = pd.DataFrame({"rfm_group": ["Champions"], "customer_share": [100.0], "revenue_share": [100.0]})
    steps = pd.DataFrame({"step": [1, 2], "metric": ["A", "B"], "profiles": [10, 4],
                          "conversion_from_start": [1.0, 0.4], "conversion_from_previous": [1.0, 0.4]})
    axes = [rfm_plots.plot_medians(medians), rfm_plots.plot_revenue_share(revenue), funnel.plot_funnel(steps),
            kpi.plot_kpi_series(pd.DataFrame({"period": ["2025-01-01"], "value": [1.0]})),
            health.plot_events_per_day(pd.DataFrame({"day": ["2025-01-01"], "events": [3]})),
            audience.plot_audience_revenue(pd.DataFrame({"segment": ["a"], "email_revenue": [1.0],
                                                         "sms_revenue": [2.0]}))]
    for ax in axes:
        assert ax.get_title(loc="left") or ax.get_title()
        assert ax.get_xlabel() and (ax.get_ylabel() or ax.get_yticklabels())
    assert axes[0].get_ylabel() == "median revenue (EUR)" and axes[1].get_ylabel() == "share (%)"
    assert axes[3].get_ylabel() == "average order value (EUR)" and axes[5].get_xlabel() == "attributed revenue (EUR)"
    # the funnel labels each gap with the conversion from the previous step
    assert "40.0 %" in [t.get_text() for t in axes[2].texts]


def test_group_flow_draws_one_band_per_move_and_labels_counts():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.patches import PathPatch

    from cdp_lib.plots import rfm as rfm_plots

    moves = pd.DataFrame({"from_group": ["Never purchased", "Loyal", "Loyal", "At Risk"],
                          "to_group": ["Recent", "Loyal", "At Risk", "Inactive"], "customers": [7, 20, 5, 0]})
    ax = rfm_plots.plot_group_flow(moves, "2025-04-01", "2025-06-30")
    assert sum(isinstance(p, PathPatch) for p in ax.patches) == 3  # the empty move draws nothing
    labels = {t.get_text() for t in ax.texts}
    assert {"Never purchased\n7", "Loyal\n25", "Recent\n7", "Loyal\n20", "At Risk\n5"} <= labels
    assert {"start 2025-04-01", "end 2025-06-30"} <= labels
