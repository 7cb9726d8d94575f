"""Segment definitions that used to hang or crash (issue 10, class 8), each refused in one line.

Every refusal is an `InputError` whose message names the file, the line and the YAML path; the
CLI turns it into one line on stderr and exit code 2, and nothing is evaluated or written.
"""

from __future__ import annotations

import signal
import time

import pytest

from cdp_lib.cli import main
from cdp_lib.errors import InputError
from cdp_lib.segments import load_definition, load_library


def _file(tmp_path, text, name="bad.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _refused(tmp_path, text, pattern, name="bad.yaml"):
    with pytest.raises(InputError) as info:
        load_definition(_file(tmp_path, text, name))
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    assert message.startswith(f"{tmp_path / name}, line "), message
    import re

    assert re.search(pattern, message), message
    return message


class _Deadline:
    """Fail (rather than hang) when the block takes longer than `seconds` of wall time."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def _expired(self, *_):
        raise TimeoutError(f"took longer than {self.seconds} s")

    def __enter__(self):
        self.old = signal.signal(signal.SIGALRM, self._expired)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.old)
        self.elapsed = time.perf_counter() - self.started


# -- alias expansion ---------------------------------------------------------------------------
def _bomb(levels=6, width=9, leaf="{can_receive: email}"):
    lines = ["name: Bomb", "conditions:", "  - any: &l0 [" + ",".join([leaf] * width) + "]"]
    for k in range(1, levels):
        lines.append(f"  - any: &l{k} [" + ",".join([f"{{any: *l{k - 1}}}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_nested_alias_bomb_is_refused_fast(tmp_path):
    text = _bomb()
    assert len(text.encode()) < 1_000  # half a kilobyte that expands to 9^6 conditions
    with _Deadline(30) as clock:
        message = _refused(tmp_path, text, r"line 6: conditions\[3\]\.any\[\d\]\.any: the aliases expand this "
                                           r"definition to more than 10,000 YAML nodes")
    assert clock.elapsed < 5, (clock.elapsed, message)


@pytest.mark.parametrize(("text", "pattern"), [
    # aliases in event filters instead of groups
    ("name: X\nconditions:\n  - metric: Placed Order\n    where: &w [{property: source, op: equals, value: web}]\n"
     + "".join(f"  - {{metric: Placed Order, where: &w{i} [{', '.join(['*w' if i == 0 else f'*w{i - 1}'] * 12)}]}}\n"
               for i in range(5)),
     r"the aliases expand this definition to more than 10,000 YAML nodes"),
    # an alias used inside its own anchor
    ("name: X\nconditions: &c\n  - any: *c\n", r"line 3: conditions\[0\]\.any: alias \*c is used inside its own anchor &c"),
])
def test_alias_variants(tmp_path, text, pattern):
    with _Deadline(30):
        _refused(tmp_path, text, pattern)


def test_small_alias_use_still_works(tmp_path):
    text = ("name: X\nconditions:\n  - metric: Placed Order\n    where: &web [{property: source, op: equals, value: web}]\n"
            "  - metric: Viewed Product\n    where: *web\n")
    d = load_definition(_file(tmp_path, text))
    assert [c["where"][0]["value"] for c in d.conditions] == ["web", "web"]


# -- dates -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("when", "pattern"), [
    ("{between: [2024-02-30, 2024-03-05]}", r"line 4: conditions\[0\]\.when\.between\[0\]: 2024-02-30 is not a real date"),
    ("{between: [2024-02-01, 2023-02-29]}", r"conditions\[0\]\.when\.between\[1\]: 2023-02-29 is not a real date"),
    ("{before: 2024-13-01}", r"conditions\[0\]\.when\.before: 2024-13-01 is not a real date"),
    ("{after: '2024-02-30'}", r"conditions\[0\]\.when\.after: expected a real date written YYYY-MM-DD, got '2024-02-30'"),
    ("{before: 0001-01-01}", r"conditions\[0\]\.when\.before: expected a date between 1900-01-01 and 2200-01-01, got 0001-01-01"),
    ("{after: 9999-12-31}", r"conditions\[0\]\.when\.after: expected a date between 1900-01-01 and 2200-01-01"),
    ("{between: [1800-01-01, 2024-01-01]}", r"when\.between\[0\]: expected a date between 1900-01-01"),
])
def test_impossible_and_far_dates(tmp_path, when, pattern):
    _refused(tmp_path, f"name: X\nconditions:\n  - metric: Placed Order\n    when: {when}\n", pattern)


def test_impossible_date_in_a_property_filter(tmp_path):
    _refused(tmp_path, "name: X\nconditions:\n  - {property: created_at, op: '>=', value: 2024-02-30}\n",
             r"line 3: conditions\[0\]\.value: 2024-02-30 is not a real date")
    _refused(tmp_path, "name: X\nconditions:\n  - {property: created_at, op: '<', value: 0001-01-01}\n",
             r"line 3: conditions\[0\]\.value: expected a date between 1900-01-01")


# -- windows -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("condition", "pattern"), [
    ("{metric: Placed Order, when: {in_last: 99999999999d}}",
     r"line 3: conditions\[0\]\.when\.in_last: '99999999999d' is longer than 36,500 days \(100 years\)"),
    ("{metric: Placed Order, when: {between_ago: [99999999999d, 1d]}}", r"when\.between_ago\[0\]: '99999999999d' is longer"),
    ("{metric: Placed Order, when: {in_last: 999999999h}}", r"when\.in_last: '999999999h' is longer than 36,500 days"),
    ("{metric: Placed Order, when: {in_last: 101y}}", r"when\.in_last: '101y' is longer than 36,500 days"),
    ("{property: created_at, op: in_last, value: 99999999999d}", r"conditions\[0\]\.value: '99999999999d' is longer"),
    ("{property: expected_next_order_date, op: in_next, value: 99999999999w}", r"conditions\[0\]\.value: '99999999999w' is longer"),
])
def test_absurd_windows(tmp_path, condition, pattern):
    _refused(tmp_path, f"name: X\nconditions:\n  - {condition}\n", pattern)


def test_longest_allowed_window_is_accepted(tmp_path):
    d = load_definition(_file(tmp_path, "name: X\nconditions:\n  - {metric: Placed Order, when: {in_last: 36500d}}\n"))
    assert d.conditions[0]["when"]["span"] == (36500.0, "d")


# -- counts and totals -------------------------------------------------------------------------
@pytest.mark.parametrize(("measure", "pattern"), [
    ("count: {op: '>=', value: 100000000000000000000000}",
     r"line 4: conditions\[0\]\.count\.value: expected a whole number of times from 0 to 1,000,000,000"),
    ("count: {op: '>=', value: 1.0e+23}", r"count\.value: expected a whole number of times"),
    ("count: {op: '<', value: -1}", r"count\.value: expected a whole number of times"),
    ("count: 1e23", r"line 4: conditions\[0\]\.count: expected \{op: '>=', value: 1\}"),
    ("total: {op: '>=', value: .inf}", r"total\.value: expected a finite number"),
    ("total: {op: '>=', value: .nan}", r"total\.value: expected a finite number"),
    ("total: {op: '>=', value: 1.0e+300}", r"total\.value: expected a finite number of at most"),
])
def test_counts_and_totals(tmp_path, measure, pattern):
    _refused(tmp_path, f"name: X\nconditions:\n  - metric: Placed Order\n    {measure}\n", pattern)


# -- nesting -----------------------------------------------------------------------------------
def test_3000_nested_any_is_refused(tmp_path):
    text = "name: X\nconditions:\n  - " + "{any: [" * 3000 + "{can_receive: email}" + "]}" * 3000 + "\n"
    with _Deadline(30):
        _refused(tmp_path, text, r"line 3: conditions\[0\]\.any\[0\].*nested more than 64 levels deep")


def test_nesting_in_block_style_and_from_python_mappings(tmp_path):
    lines = ["name: X", "conditions:"]
    for depth in range(40):
        lines.append("  " * (depth + 1) + "- any:")
    lines.append("  " * 41 + "- {can_receive: email}")
    _refused(tmp_path, "\n".join(lines) + "\n", r"nested more than 64 levels deep")
    spec: dict = {"can_receive": "email"}
    for _ in range(3_000):
        spec = {"any": [spec]}
    with pytest.raises(InputError, match=r"any/all groups nested more than 16 deep"):
        load_definition({"name": "X", "conditions": [spec]})


def test_group_depth_limit_is_exact(tmp_path):
    def nested(n):
        return "name: X\nconditions:\n  - " + "{any: [" * n + "{can_receive: email}" + "]}" * n + "\n"

    assert load_definition(_file(tmp_path, nested(16), "ok.yaml")).conditions[0]["kind"] == "group"
    _refused(tmp_path, nested(17), r"line 3: conditions\[0\]\.any\[0\].*\.any: any/all groups nested more than 16 deep")


def test_too_many_conditions(tmp_path):
    text = "name: X\nconditions: [" + ", ".join(["{can_receive: email}"] * 1_001) + "]\n"
    _refused(tmp_path, text, r"conditions\[1000\]: more than 1,000 conditions in one definition")


# -- distances ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("within", "pattern"), [
    ("{miles: .nan, of: {lat: 42.36, lon: -71.06}}", r"line 3: conditions\[0\]\.within\.miles: expected a positive finite number, got nan"),
    ("{km: .inf, of: {zip: '02108'}}", r"within\.km: expected a positive finite number, got inf"),
    ("{km: -.inf, of: {zip: '02108'}}", r"within\.km: expected a positive finite number"),
    ("{km: 5, of: {lat: .nan, lon: -71.06}}", r"within\.of\.lat: expected a number between -90 and 90, got nan"),
    ("{km: 5, of: {lat: 42.0, lon: .inf}}", r"within\.of\.lon: expected a number between -180 and 180"),
])
def test_non_finite_distances_and_points(tmp_path, within, pattern):
    _refused(tmp_path, f"name: X\nconditions:\n  - within: {within}\n", pattern)


def test_non_finite_property_values(tmp_path):
    _refused(tmp_path, "name: X\nconditions:\n  - {property: age, op: '>', value: .nan}\n",
             r"line 3: conditions\[0\]\.value: expected a finite number, got nan")
    _refused(tmp_path, "name: X\nconditions:\n  - {property: age, op: in, value: [1.0, .inf]}\n",
             r"conditions\[0\]\.value: expected a finite number, got inf")


# -- the CLI: one line, exit 2, nothing written ------------------------------------------------
CASES = {
    "bomb.yaml": _bomb(),
    "date.yaml": "name: X\nconditions:\n  - metric: Placed Order\n    when: {between: [2024-02-30, 2024-03-05]}\n",
    "window.yaml": "name: X\nconditions:\n  - metric: Placed Order\n    when: {in_last: 99999999999d}\n",
    "count.yaml": "name: X\nconditions:\n  - metric: Placed Order\n    count: {op: '>=', value: 100000000000000000000000}\n",
    "deep.yaml": "name: X\nconditions:\n  - " + "{any: [" * 3000 + "{can_receive: email}" + "]}" * 3000 + "\n",
    "nan.yaml": "name: X\nconditions:\n  - within: {miles: .nan, of: {lat: 42.36, lon: -71.06}}\n",
}


def test_cli_refuses_each_case_in_one_line_with_exit_2(tmp_path, capsys):
    from cdp_lib.testing import workspace_from_frames
    import pandas as pd

    db = tmp_path / "cdp.duckdb"
    workspace_from_frames(str(db), events=pd.DataFrame({
        "event_id": ["1"], "profile_id": ["a"], "metric": ["Placed Order"],
        "timestamp": ["2025-06-01T10:00:00Z"], "value": [1.0]})).close()
    for name, text in CASES.items():
        path = _file(tmp_path, text, name)
        with _Deadline(60):
            code = main(["--db", str(db), "segment", "run", str(path)])
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert code == 2 and len(lines) == 1, (name, captured.err)
        assert lines[0].startswith(f"error: {path}, line "), lines[0]
        assert "Traceback" not in captured.err + captured.out
    folder = tmp_path / "library"
    folder.mkdir()
    _file(folder, "name: Fine\nconditions:\n  - {metric: Placed Order}\n", "fine.yaml")
    _file(folder, CASES["bomb.yaml"], "zz_bomb.yaml")
    assert main(["--db", str(db), "segment", "refresh", "--folder", str(folder)]) == 2
    assert "zz_bomb.yaml, line 6" in capsys.readouterr().err
    from cdp_lib import Workspace

    ws = Workspace(db, read_only=True)
    try:
        assert not ws.has_table("segment_refreshes")  # nothing written
    finally:
        ws.close()
    with pytest.raises(InputError, match="zz_bomb.yaml"):
        load_library(folder)


def test_limits_are_documented_values():
    from cdp_lib.segments import guard

    assert (guard.MAX_YAML_NODES, guard.MAX_YAML_DEPTH, guard.MAX_GROUP_DEPTH, guard.MAX_CONDITIONS,
            guard.MAX_WINDOW_DAYS, guard.MAX_COUNT) == (10_000, 64, 16, 1_000, 36_500, 1_000_000_000)
