"""Profile transforms: hand-computed expectations, a plain-Python reference under Hypothesis,
validation messages, one-transaction apply, and ingest keeping outputs current."""

from __future__ import annotations

import calendar
import re

import ibis
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp_lib import Workspace, transforms
from cdp_lib.cli import main
from cdp_lib.errors import InputError
from cdp_lib.ingest import ingest_file
from cdp_lib.transforms import expressions, store
from cdp_lib.transforms.definitions import parse_definition, parse_yaml


# -- a plain-Python reference sharing no code with the engine ---------------------------------
def ref_blank(v):
    if v is None:
        return None
    stripped = v
    while stripped and stripped[0] in " \t\n\r\f\v":
        stripped = stripped[1:]
    return None if stripped == "" or all(c in " \t\n\r\f\v" for c in stripped) else v


def ref_trim(v):
    chars = " \t\n\r\f\v"
    start, end = 0, len(v)
    while start < end and v[start] in chars:
        start += 1
    while end > start and v[end - 1] in chars:
        end -= 1
    return v[start:end]


def ref_strip_quotes(v):
    return "".join(c for c in v if c not in "'\"`‘’“”´")


def ref_strip_special(v):
    out = []
    for c in v:
        if c.isalpha() or c.isdigit() or c in " \t\n\r\f\v" or c in "-.,'@+_/:&":
            out.append(c)
    return "".join(out)


def ref_capitalize(v):
    words = v.split(" ")
    return " ".join((w[:1].upper() + w[1:].lower()) for w in words)


MONTH_NAMES = {}
for i, full in enumerate(calendar.month_name):
    if i:
        MONTH_NAMES[full.lower()] = i
        MONTH_NAMES[full.lower()[:3]] = i
MONTH_NAMES["sept"] = 9


def ref_iso_date(v):
    def ok(y, m, d):
        if not (1 <= m <= 12 and y >= 1):
            return None
        if not 1 <= d <= calendar.monthrange(y, m)[1]:
            return None
        return f"{y:04d}-{m:02d}-{d:02d}"

    s = v
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})([T ].*)?", s, flags=re.S)
    if m and s.isascii():
        return ok(int(m[1]), int(m[2]), int(m[3]))
    for pat, order in ((r"(\d{4})/(\d{1,2})/(\d{1,2})", "ymd"), (r"(\d{4})(\d{2})(\d{2})", "ymd"),
                       (r"(\d{1,2})/(\d{1,2})/(\d{4})", "mdy"), (r"(\d{1,2})\.(\d{1,2})\.(\d{4})", "dmy")):
        m = re.fullmatch(pat, s, flags=re.ASCII)
        if m:
            parts = dict(zip(order, map(int, m.groups())))
            return ok(parts["y"], parts["m"], parts["d"])
    m = re.fullmatch(r"([A-Za-z]+)\.? (\d{1,2}),? (\d{4})", s)
    if m and m[1].lower() in MONTH_NAMES:
        return ok(int(m[3]), MONTH_NAMES[m[1].lower()], int(m[2]))
    m = re.fullmatch(r"(\d{1,2}) ([A-Za-z]+)\.?,? (\d{4})", s)
    if m and m[2].lower() in MONTH_NAMES:
        return ok(int(m[3]), MONTH_NAMES[m[2].lower()], int(m[1]))
    return None


REF_FORMAT = {"strip_quotes": ref_strip_quotes, "strip_special": ref_strip_special, "trim": ref_trim,
              "capitalize": ref_capitalize, "iso_date": ref_iso_date}
ORDER = ["strip_quotes", "strip_special", "trim", "capitalize", "iso_date"]


def ref_transform(row: dict, spec: dict):
    if spec.get("merge"):
        v = None
        for p in spec["merge"]:
            if ref_blank(row.get(p)) is not None:
                v = row[p]
                break
    else:
        v = row.get(spec["target"])
    for op in ORDER:
        if op in spec.get("format", []) and v is not None:
            v = REF_FORMAT[op](v)
    if v is not None:
        for rule in spec.get("standardize", []):
            cs = spec.get("case_sensitive", False)
            hay = v if cs else v.lower()
            if "equals" in rule:
                needle = rule["equals"] if cs else rule["equals"].lower()
                hit = hay == needle
            else:
                needle = rule["contains"] if cs else rule["contains"].lower()
                hit = needle in hay
            if hit:
                v = rule["replace"]
                break
    return ref_blank(v)


_CON = ibis.duckdb.connect()


def run_engine(df: pd.DataFrame, spec: dict) -> list:
    t = ibis.memtable(df, schema={c: "string" for c in df.columns})
    d = parse_definition(spec)
    out = _CON.execute(expressions.preview_table(t, d)).set_index("profile_id")["after"]
    return [None if pd.isna(v) else v for v in out.reindex(df.profile_id)]


def frame(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    return pd.DataFrame({"profile_id": [f"p{i}" for i in range(n)], **cols}).astype(object)


# -- hand-computed expectations ---------------------------------------------------------------
def test_country_standardise_hand_computed():
    df = frame(country=[" USA ", "u.s.", "United States of America", "Canada", None, "   ", "usa"])
    spec = {"name": "c", "target": "country", "format": ["trim"], "standardize": [
        {"equals": "USA", "replace": "US"}, {"equals": "U.S.", "replace": "US"},
        {"contains": "united states", "replace": "US"}]}
    assert run_engine(df, spec) == ["US", "US", "US", "Canada", None, None, "US"]


def test_standardise_first_match_wins_and_case_sensitive():
    df = frame(v=["apple pie", "Apple", "APPLE", "pie"])
    spec = {"name": "s", "target": "v", "standardize": [
        {"contains": "pie", "replace": "dessert"}, {"contains": "apple", "replace": "fruit"}]}
    assert run_engine(df, spec) == ["dessert", "fruit", "fruit", "dessert"]
    spec["case_sensitive"] = True
    spec["standardize"] = [{"equals": "Apple", "replace": "fruit"}]
    assert run_engine(df, spec) == ["apple pie", "fruit", "APPLE", "pie"]


def test_format_operations_hand_computed():
    df = frame(v=["  bob  SMITH ", "'ANNA'", "o'brien!! (jr)", "\t\n", "“Zoë” #1", "mary-jane"])
    spec = {"name": "f", "target": "v", "format": ["capitalize", "trim"]}
    assert run_engine(df, spec) == ["Bob  Smith", "'anna'", "O'brien!! (jr)", None, "“zoë” #1", "Mary-jane"]
    spec = {"name": "f", "target": "v", "format": ["strip_quotes", "strip_special", "trim"]}
    assert run_engine(df, spec) == ["bob  SMITH", "ANNA", "obrien jr", None, "Zoë 1", "mary-jane"]


def test_iso_date_formats_and_invalid_dates():
    df = frame(v=["2024-02-29", "2023-02-29", "02/03/2024", "3.2.2024", "20240131", "March 5, 2024",
                  "5 Sept 2024", "2024-01-31T23:59:59Z", "2024/1/2", "13/01/2024", "yesterday",
                  "Foo 5, 2024", "1900-02-29", "2000-02-29", " 2024-01-01"])
    spec = {"name": "d", "target": "v", "format": ["iso_date"]}
    assert run_engine(df, spec) == ["2024-02-29", None, "2024-02-03", "2024-02-03", "2024-01-31",
                                    "2024-03-05", "2024-09-05", "2024-01-31", "2024-01-02", None,
                                    None, None, None, "2000-02-29", None]


def test_merge_first_non_empty_in_priority_order():
    df = frame(phone=[None, "  ", "111", None], mobile=["222", None, "333", ""], sms_phone=["333", "444", None, None])
    spec = {"name": "m", "target": "phone", "merge": ["phone", "mobile", "sms_phone"]}
    assert run_engine(df, spec) == ["222", "444", "111", None]


# -- Hypothesis against the reference ---------------------------------------------------------
ALPHABET = "aAbBzZéÉ 019'\"`’#!()-./,:@+_&\t"
text = st.one_of(st.none(), st.text(alphabet=ALPHABET, max_size=12),
                 st.sampled_from(["USA", " usa", "U.S.", "2024-02-29", "02/30/2024", "7 may 2021",
                                  "Jan 1, 2020", "20201301", "1.1.1999"]))
spec_st = st.fixed_dictionaries(
    {"name": st.just("h"), "target": st.just("a")},
    optional={
        "merge": st.sampled_from([["a", "b"], ["b", "a", "c"], ["c", "b"]]),
        "format": st.lists(st.sampled_from(ORDER), unique=True, min_size=1),
        "case_sensitive": st.booleans(),
    },
)
rules_st = st.lists(st.tuples(st.sampled_from(["equals", "contains"]),
                              st.text(alphabet="aAbé .", min_size=1, max_size=3),
                              st.text(alphabet="xY ", max_size=2)), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(text, text, text), min_size=1, max_size=12), spec=spec_st,
       rules=st.one_of(st.none(), rules_st))
def test_engine_matches_reference(rows, spec, rules):
    spec = dict(spec)
    if rules is not None:
        spec["standardize"] = [{kind: value, "replace": rep} for kind, value, rep in rules]
    else:
        spec.pop("standardize", None)
    if not any(k in spec for k in ("merge", "format", "standardize")):
        spec["format"] = ["trim"]
    df = frame(a=[r[0] for r in rows], b=[r[1] for r in rows], c=[r[2] for r in rows])
    expected = [ref_transform(dict(zip("abc", r)), spec) for r in rows]
    assert run_engine(df, spec) == expected


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize("text, match", [
    ("name: x\ntarget: country\nformat: [trim, upper]\n", r"f\.yaml, line 3: format\[1\]: unknown format 'upper'"),
    ("name: x\ntarget: phone\nmerge: [phone]\n", r"line 3: merge: expected a list of 2 to 10"),
    ("name: x\ntarget: phone\nmerge: [a, b, c, d, e, f, g, h, i, j, k]\n", r"merge: expected a list of 2 to 10"),
    ("name: x\ntarget: c\nstandardize:\n  - equals: A\n    contains: B\n    replace: C\n",
     r"line 4: standardize\[0\]: a rule needs exactly one of equals, contains"),
    ("name: x\ntarget: c\nstandardize:\n  - equals: A\n", r"standardize\[0\]: a rule needs replace"),
    ("name: x\ntarget: c\nstandardize:\n" + "".join(f"  - {{equals: a{i}, replace: b}}\n" for i in range(11)),
     r"standardize: expected a list of 1 to 10 rules"),
    ("name: x\ntarget: c\nformat: [trim]\nformat: [capitalize]\n", r"line 4: format: key given twice"),
    ("name: x\ntarget: c\n", r"needs at least one of merge, format, standardize"),
    ("name: x\ntarget: c\nformt: [trim]\n", r"line 3: formt: unknown key 'formt'; did you mean 'format'"),
    ("name: x\ntarget: c_transformed\nformat: [trim]\n", r"already a transformed property"),
    ("name: x\ntarget: c\nstandardize:\n  - {equals: yes, replace: Y}\n", r"standardize\[0\]\.equals: expected text"),
    ("name: x\ntarget: c\ncase_sensitive: maybe\nformat: [trim]\n", r"case_sensitive: expected true or false"),
    ("name: [x\n", r"not valid YAML"),
])
def test_definition_errors_name_file_line_and_path(text, match):
    with pytest.raises(InputError, match=match):
        parse_yaml(text, "f.yaml")


def test_two_transforms_of_one_property_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text("name: a\ntarget: country\nformat: [trim]\n")
    (tmp_path / "b.yaml").write_text("name: b\ntarget: country\nstandardize:\n  - {equals: x, replace: y}\n")
    with pytest.raises(InputError, match=r"b\.yaml, line 2: target: .*a\.yaml already transforms 'country'"):
        transforms.load_dir(tmp_path)


def test_shipped_examples_load():
    defs = transforms.load_dir("parameters/transforms")
    assert {d.output for d in defs} == {"country_transformed", "first_name_transformed", "phone_transformed"}


# -- workspace: preview, apply, ingest --------------------------------------------------------
def _write_profiles(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def ws_with_profiles(tmp_path):
    ws = Workspace(tmp_path / "cdp.duckdb")
    f = _write_profiles(tmp_path / "p.csv", [
        {"email": "a@x.com", "phone": "", "country": "USA", "first_name": "  anna ", "mobile": "555-1", "sms_phone": ""},
        {"email": "b@x.com", "country": "Canada", "first_name": "BOB", "mobile": "", "sms_phone": "555-2"},
        {"email": "c@x.com", "country": "united states", "first_name": "Cy", "mobile": "", "sms_phone": ""},
    ])
    ingest_file(ws, "profiles", f)
    yield ws
    ws.close()


def _values(ws, col):
    return dict(ws.duckdb.execute(f"SELECT email, {col} FROM profiles ORDER BY email").fetchall())


def test_preview_counts_and_writes_nothing(ws_with_profiles):
    ws = ws_with_profiles
    defs = transforms.load_dir("parameters/transforms")
    before = ws.duckdb.execute("SELECT * FROM profiles ORDER BY email").fetchall()
    res = {p.definition.name: p for p in transforms.preview(ws, defs, sample=5)}
    c = res["Country standardised"]
    assert (c.rows, c.changed, c.unchanged, c.empty) == (3, 2, 1, 0)
    assert c.sample.status.tolist() == ["changed", "changed", "unchanged"]
    f = res["First name formatted"]
    assert (f.changed, f.unchanged) == (2, 1)
    ph = res["Best phone"]
    assert (ph.changed, ph.empty) == (2, 1)
    assert ws.duckdb.execute("SELECT * FROM profiles ORDER BY email").fetchall() == before


def test_apply_then_ingest_keeps_outputs_current(ws_with_profiles, tmp_path):
    ws = ws_with_profiles
    defs = transforms.load_dir("parameters/transforms")
    counts = transforms.apply(ws, defs)
    assert [c["written"] for c in counts] == [3, 3, 2]
    assert _values(ws, "country_transformed") == {"a@x.com": "US", "b@x.com": "Canada", "c@x.com": "US"}
    assert _values(ws, "first_name_transformed") == {"a@x.com": "Anna", "b@x.com": "Bob", "c@x.com": "Cy"}
    assert _values(ws, "phone_transformed") == {"a@x.com": "555-1", "b@x.com": "555-2", "c@x.com": None}
    assert _values(ws, "country") == {"a@x.com": "USA", "b@x.com": "Canada", "c@x.com": "united states"}
    untouched = ws.duckdb.execute("SELECT updated_at FROM profiles WHERE email = 'b@x.com'").fetchone()
    # A later ingest: one changed person and one new person get their outputs.
    f = _write_profiles(tmp_path / "q.csv", [
        {"email": "a@x.com", "phone": "", "country": "Canada", "first_name": "anna", "mobile": "", "sms_phone": ""},
        {"email": "d@x.com", "country": "U.S.", "first_name": "dora", "mobile": "", "sms_phone": "777"},
    ])
    result = ingest_file(ws, "profiles", f)
    assert _values(ws, "country_transformed") == {"a@x.com": "Canada", "b@x.com": "Canada",
                                                  "c@x.com": "US", "d@x.com": "US"}
    assert _values(ws, "phone_transformed")["d@x.com"] == "777"
    assert ws.duckdb.execute("SELECT updated_at FROM profiles WHERE email = 'b@x.com'").fetchone() == untouched
    log = ws.duckdb.execute(
        "SELECT name, rows FROM transforms_log WHERE trigger = 'ingest' AND ingest_id = ? ORDER BY name",
        [result.ingest_id]).fetchall()
    assert log == [("Best phone", 2), ("Country standardised", 2), ("First name formatted", 2)]


def test_apply_is_one_transaction(ws_with_profiles, monkeypatch):
    ws = ws_with_profiles
    defs = transforms.load_dir("parameters/transforms")
    real = store._run_one
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("injected")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "_run_one", failing)
    with pytest.raises(RuntimeError, match="injected"):
        transforms.apply(ws, defs)
    cols = [r[0] for r in ws.duckdb.execute("DESCRIBE profiles").fetchall()]
    assert not any(c.endswith("_transformed") for c in cols)
    assert not ws.has_table("transforms_log")


def test_unknown_property_is_refused_before_writing(ws_with_profiles, tmp_path):
    (tmp_path / "t.yaml").write_text("name: t\ntarget: phone\nmerge: [phone, mobil]\n")
    with pytest.raises(InputError, match=r"t\.yaml, line 3: merge\[1\]: profiles have no property 'mobil'; did you mean 'mobile'"):
        transforms.apply(ws_with_profiles, transforms.load_dir(tmp_path))


def test_transformed_property_works_in_a_segment(ws_with_profiles):
    from cdp_lib.segments.compile import members_table

    ws = ws_with_profiles
    transforms.apply(ws, transforms.load_dir("parameters/transforms"))
    d = {"name": "US", "conditions": [{"property": "country_transformed", "op": "==", "value": "US"}]}
    ids = set(members_table(ws, d).execute().profile_id)
    expected = {r[0] for r in ws.duckdb.execute(
        "SELECT profile_id FROM profiles WHERE email IN ('a@x.com', 'c@x.com')").fetchall()}
    assert ids == expected


def test_cli_preview_apply_and_errors(ws_with_profiles, tmp_path, capsys):
    db = str(ws_with_profiles.path)
    ws_with_profiles.close()
    assert main(["--db", db, "transform", "preview", "--sample", "1"]) == 0
    out = capsys.readouterr().out
    assert "Country standardised: country -> country_transformed: 3 profiles, 2 changed, 1 unchanged, 0 empty" in out
    assert main(["--db", db, "transform", "apply"]) == 0
    assert main(["--db", db, "transform", "list"]) == 0
    assert "active" in capsys.readouterr().out
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.yaml").write_text("name: x\ntarget: c\nformat: [upper]\n")
    assert main(["--db", db, "transform", "apply", "--transforms", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "x.yaml, line 3: format[0]: unknown format 'upper'" in err


def test_apply_replaces_the_active_set_and_keeps_old_columns(ws_with_profiles, tmp_path):
    ws = ws_with_profiles
    transforms.apply(ws, transforms.load_dir("parameters/transforms"))
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "f.yaml").write_text("name: First\ntarget: first_name\nformat: [trim]\n")
    transforms.apply(ws, transforms.load_dir(tmp_path / "only"))
    assert [d.name for d in store.active(ws)] == ["First"]
    f = _write_profiles(tmp_path / "r.csv", [{"email": "e@x.com", "phone": "", "country": "USA",
                                              "first_name": " eve ", "mobile": "", "sms_phone": ""}])
    ingest_file(ws, "profiles", f)
    row = ws.duckdb.execute("SELECT first_name_transformed, country_transformed FROM profiles "
                            "WHERE email = 'e@x.com'").fetchone()
    assert row == ("eve", None)  # the country transform is no longer active; its column stays
