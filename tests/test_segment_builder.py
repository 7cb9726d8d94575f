"""Segment builder: rows and nested groups as typed -> definition, messages, counts, export, save.

The members of built definitions are checked against a plain loop over the same hand-written
people that reads the builder's rows directly (no definition, no engine).
"""

from __future__ import annotations

import random

import pandas as pd
import pytest

from cdp_lib.segments import count_members
from cdp_lib.segments import builder as b
from cdp_lib.testing import workspace_from_frames

AS_OF = "2025-03-31"
PROFILES = pd.DataFrame({
    "profile_id": ["a", "b", "c", "d", "e", "f"],
    "email": ["a@x.com", " ", None, "d@x.com", "e@x.com", "f@x.com"],
    "phone": ["+1555000001", None, "+1555000003", "", "+1555000005", "+1555000006"],
    "country": ["US", "US", "CA", "DE", "US", None],
    "city": ["Boston", "Austin", "Toronto", "Berlin", "Boston", None],
    "email_consent": [True, True, None, False, True, True],
    "sms_consent": [True, None, True, True, False, True],
})
ORDERS = {"a": ["2025-03-30", "2025-03-01", "2024-01-01"], "b": ["2025-03-20"], "c": ["2025-01-15", "2025-03-25"],
          "e": ["2025-04-02"]}  # e's order is after the as-of date


def _events() -> pd.DataFrame:
    rows = [(p, "Placed Order", f"{d}T12:00:00", 10.0, "web" if p != "c" else "pos")
            for p, days in ORDERS.items() for d in days]
    rows.append(("d", "Viewed Product", "2025-03-30T12:00:00", None, "web"))
    df = pd.DataFrame(rows, columns=["profile_id", "metric", "timestamp", "value", "channel"])
    df.insert(0, "event_id", [f"e{i}" for i in range(len(df))])
    return df


@pytest.fixture(scope="module")
def ws():
    w = workspace_from_frames(profiles=PROFILES, events=_events())
    yield w
    w.close()


# -- reference: the builder's rows evaluated by hand --------------------------------------------
def ref_row(person: dict, row: b.Row) -> bool | None:
    """None: the row is unused (applies no filter)."""
    if row.kind == b.CONSENT:
        addr, flag = ("email", "email_consent") if row.channel == "email" else ("phone", "sms_consent")
        return bool(person[addr] and str(person[addr]).strip()) and person[flag] is True
    if row.kind == b.PROPERTY:
        if str(row.value).strip() == "":
            return None
        return person[row.property] == row.value if row.op == "equals" else person[row.property] != row.value
    if row.kind == b.DID:
        days = [d for d in ORDERS.get(person["profile_id"], []) if d <= AS_OF]
        if row.window == b.IN_LAST:  # whole days back from the start of the as-of date
            start = (pd.Timestamp(AS_OF) - pd.Timedelta(days=row.days)).strftime("%Y-%m-%d")
            days = [d for d in days if d >= start]
        if row.event_property == "channel" and str(row.value).strip():
            days = [d for d in days if ("pos" if person["profile_id"] == "c" else "web") == row.value]
        n = len(days)
        return {">=": n >= row.count, "==": n == row.count, "<": n < row.count}[row.count_op]
    return None


def ref_group(person: dict, group: b.Group) -> bool | None:
    results = [ref_group(person, i) if isinstance(i, b.Group) else ref_row(person, i) for i in group.items]
    results = [r for r in results if r is not None]
    if not results:
        return None
    return all(results) if group.match == "all" else any(results)


def reference(group: b.Group) -> int:
    people = PROFILES.astype(object).where(PROFILES.notna(), None).to_dict("records")
    return sum(bool(ref_group(p, group)) for p in people)


ROWS = [
    b.Row(kind=b.DID, metric="Placed Order", count=2),
    b.Row(kind=b.DID, metric="Placed Order", count=1, window=b.IN_LAST, days=30),
    b.Row(kind=b.DID, metric="Placed Order", count_op="==", count=0),
    b.Row(kind=b.DID, metric="Placed Order", count_op="<", count=2, event_property="channel", op="equals", value="web"),
    b.Row(kind=b.DID, metric="Placed Order", count=1, event_property="channel", op="equals", value=""),  # where ignored
    b.Row(kind=b.PROPERTY, property="country", value="US"),
    b.Row(kind=b.PROPERTY, property="city", op="not_equals", value="Boston"),
    b.Row(kind=b.PROPERTY, property="country", value=""),  # unused
    b.Row(kind=b.CONSENT, channel="email"),
    b.Row(kind=b.CONSENT, channel="sms"),
    b.Row(),  # kind not chosen
]


def random_tree(rng: random.Random, depth: int = 1) -> b.Group:
    items = []
    for _ in range(rng.randint(1, 3)):
        if depth < b.MAX_GROUP_DEPTH and rng.random() < 0.35:
            items.append(random_tree(rng, depth + 1))
        else:
            items.append(rng.choice(ROWS))
    return b.Group(rng.choice(["all", "any"]), items)


def test_built_definitions_count_what_the_plain_loop_counts(ws):
    rng = random.Random(16)
    checked = 0
    for _ in range(40):
        tree = random_tree(rng)
        built = b.build("T", tree)
        want = reference(tree)
        if built.definition is None:  # nothing used: the builder refuses, the loop has no filter
            assert ref_group(PROFILES.iloc[0].to_dict(), tree) is None
            continue
        assert count_members(ws, built.definition, AS_OF, library={}) == want, built.definition
        checked += 1
    assert checked >= 30


def test_empty_rows_apply_no_filter():
    built = b.build("X", b.Group("all", [ROWS[0], b.Row(kind=b.PROPERTY, property="country", value="  "), b.Row()]))
    assert built.definition["conditions"] == [{"metric": "Placed Order", "count": {"op": ">=", "value": 2}}]
    notes = [c.note for c in built.checks.values()]
    assert notes == ["", "not applied yet: type a value", ""]
    where = b.check_row(ROWS[4])
    assert "where" not in where.condition and where.note == "the 'where' filter is not applied until you type a value"


@pytest.mark.parametrize("row, field, message", [
    (b.Row(kind=b.DID, metric="Placed Order", count=-1), "count", "the number of times cannot be negative; type 0 or more"),
    (b.Row(kind=b.DID, metric="Placed Order", count="2.5"), "count", "the number of times must be a whole number, not '2.5'"),
    (b.Row(kind=b.DID, metric="Placed Order", count=""), "count", "type the number of times"),
    (b.Row(kind=b.DID, metric="Placed Order", window=b.IN_LAST, days=0), "days", "the number of days must be at least 1"),
    (b.Row(kind=b.DID, metric="Placed Order", window=b.IN_LAST, days=-5), "days", "the number of days cannot be negative; type 1 or more"),
    (b.Row(kind=b.DID, metric="Placed Order", window=b.IN_LAST, days=40_000), "days", "the number of days can be at most 36,500"),
    (b.Row(kind=b.PROPERTY, property="country", op=">", value="abc"), "value",
     "> compares numbers or dates (YYYY-MM-DD); 'abc' is neither"),
])
def test_wrong_values_are_refused_on_their_field(row, field, message):
    check = b.check_row(row)
    assert check.condition is None and check.errors == {field: message}
    built = b.build("X", b.Group("all", [ROWS[0], row]))
    assert built.definition is None and built.message.startswith("fix the condition marked in red first")


def test_groups_nest_unwrap_and_drop_when_empty():
    tree = b.Group("any", [
        b.Group("all", [ROWS[0], ROWS[5]]),
        b.Group("all", [b.Row(), b.Group("any", [ROWS[7]])]),  # nothing used: left out
        b.Group("any", [ROWS[8]]),  # one item: the item itself
    ])
    d = b.build(" Mixed ", tree).definition
    assert d == {"name": "Mixed", "match": "any", "conditions": [
        {"all": [{"metric": "Placed Order", "count": {"op": ">=", "value": 2}},
                 {"property": "country", "op": "equals", "value": "US"}]},
        {"can_receive": "email"}]}
    assert b.build("", b.Group("all", [b.Row()])).message.startswith("add at least one condition")
    assert b.build("", b.Group("all", [ROWS[8]])).definition["name"] == "New segment"
    deep = b.Group("all", [b.Group("all", [b.Group("all", [b.Group("all", [ROWS[8]])])])])
    with pytest.raises(Exception, match="groups nest at most 3 deep in the builder"):
        b.build("X", deep)


def test_definition_described_in_plain_words():
    d = {"name": "Engaged", "match": "all", "conditions": [
        {"metric": "Placed Order", "count": {"op": ">=", "value": 3}, "when": {"in_last": "90d"},
         "where": [{"property": "channel", "op": "equals", "value": "web"}]},
        {"any": [{"property": "country", "op": "equals", "value": "US"}, {"can_receive": "sms"},
                 {"all": [{"metric": "Viewed Product", "count": {"op": "==", "value": 1}},
                          {"property": "email", "op": "is_set"}]}]},
        {"metric": "Placed Order", "total": {"op": ">", "value": 1000}, "when": {"between": ["2025-01-01", "2025-01-31"]}},
    ]}
    assert b.describe(d) == [
        "Engaged: people who match ALL of",
        "  • did Placed Order at least 3 times in the last 90 days where channel is 'web'",
        "  • ANY of",
        "    • country is 'US'",
        "    • can receive SMS (address and consent)",
        "    • ALL of",
        "      • did Viewed Product exactly 1 time",
        "      • email is set",
        "  • did Placed Order with a total value more than 1,000 between 2025-01-01 and 2025-01-31 (both days included)",
    ]


def test_value_suggestions_most_common_first(ws):
    assert b.value_suggestions(ws, "country") == ["US", "CA", "DE"]  # 3 US; CA/DE tie, by value
    assert b.value_suggestions(ws, "channel", metric="Placed Order") == ["web", "pos"]
    assert b.value_suggestions(ws, "email_consent") == ["true", "false"]
    assert b.value_suggestions(ws, "nope") == []


def test_reach_counts_follow_can_receive(ws):
    from cdp_lib.segments import members_table

    every = members_table(ws, {"name": "All", "conditions": [{"property": "profile_id", "op": "is_set"}]}, AS_OF, {})
    got = b.reach_counts(ws, every)
    people = PROFILES.astype(object).where(PROFILES.notna(), None).to_dict("records")
    want = {"members": len(people),
            "email": sum(ref_row(p, b.Row(kind=b.CONSENT, channel="email")) for p in people),
            "sms": sum(ref_row(p, b.Row(kind=b.CONSENT, channel="sms")) for p in people)}
    assert got == want == {"members": 6, "email": 3, "sms": 3}


# -- the app: widgets only collect; messages sit beside their control --------------------------
@pytest.fixture
def app(ws, tmp_path):
    from cdp_lib.apps import SegmentBuilderApp

    a = SegmentBuilderApp(workspace=ws, folder=tmp_path, as_of=AS_OF)
    yield a


def test_app_nested_group_counts_and_reach(app, ws):
    first = app.rows[0]
    first.count.value = 2
    app.root.add_group.click()
    inner = app.root.items[-1]
    inner.match.value = "any"
    inner.items[0].kind.value = "profile property"
    inner.items[0].profile_property.value = "country"
    assert app.members == reference(b.Group("all", [ROWS[0]]))  # the new row is still empty: no filter
    assert "Not applied yet: type a value" in inner.items[0].message.value
    inner.items[0].value.value = "CA"
    inner.add_row.click()
    inner.items[1].kind.value = "can receive"
    tree = b.Group("all", [ROWS[0], b.Group("any", [b.Row(kind=b.PROPERTY, property="country", value="CA"), ROWS[8]])])
    assert app.definition() == b.build("New segment", tree).definition
    assert app.members == reference(tree) == count_members(ws, app.definition(), AS_OF, {})
    assert f"cdp-members'>{app.members:,}<" in app.count_html.value and "Reachable by email" in app.count_html.value
    assert "• ANY of" in app.yaml_html.value and "country is &#x27;CA&#x27;" in app.yaml_html.value
    assert inner.items[0].value.options[:1] == ("US",)  # suggestions from the data


def test_app_refuses_a_negative_count_beside_the_box(app):
    app.rows[0].count.value = -3
    assert app.error.startswith("fix the condition marked in red first")
    assert "The number of times cannot be negative; type 0 or more" in app.rows[0].message.value
    assert app.members is None and app.count_html.value == "" and app.sample_html.value == ""  # no stale numbers
    app.rows[0].count.value = 1
    assert app.error is None and app.rows[0].message.value == "" and app.members == 3


def test_app_exports_csv_and_saves_a_readable_definition(app, tmp_path):
    import io

    import yaml

    app.rows[0].count.value = 1
    csv = pd.read_csv(io.StringIO(app.export_csv()))
    assert sorted(csv.profile_id) == ["a", "b", "c"] and list(csv.columns)[:2] == ["profile_id", "email"]
    app.export.click()
    assert "Download new_segment.csv (3 people)" in app.export_html.value
    app.export_fields.value = ()
    app.export.click()
    assert "choose at least one field to export" in app.export_html.value
    app.name.value = "Buyers"
    app.save.click()
    saved = tmp_path / "buyers.yaml"
    assert yaml.safe_load(saved.read_text())["conditions"] == [{"metric": "Placed Order", "count": {"op": ">=", "value": 1}}]
    assert "Saved to" in app.saved_html.value and "did Placed Order at least 1 time" in app.saved_html.value
    app.save.click()
    assert "already exists" in app.saved_html.value and "cdp-error" in app.saved_html.value
