"""One unknown-key check and one "did you mean" hint for every YAML and parameter reader."""

import pytest

from cdp_lib.errors import InputError
from cdp_lib.keys import check_keys, suggest, unknown_key_message


def test_suggest_names_the_close_words_quoted_or_nothing():
    assert suggest("lookbak_days", ["lookback_days", "as_of"]) == "; did you mean 'lookback_days'?"
    assert suggest("colour", ["color", "colours", "size"]) == "; did you mean 'colours' or 'color'?"
    assert suggest("zzz", ["as_of", "db"]) == ""
    assert suggest("x", []) == ""


def test_check_keys_names_the_first_unknown_key_where_and_what_is_allowed():
    with pytest.raises(InputError, match=r"^jobs\[0\]: unknown key 'retrys'; did you mean 'retries'\?; allowed: cron, retries$"):
        check_keys("jobs[0]", {"cron": 1, "retrys": 2, "other": 3}, {"cron", "retries"})
    check_keys("x", {"cron": 1}, {"cron", "retries"})  # known keys pass


def test_check_keys_error_factory_and_noun():
    class Located(InputError):
        pass

    with pytest.raises(Located, match=r"^f.yaml, line 2: unknown parameter 'bad_key'; allowed: a$"):
        check_keys("", {"bad_key": 1}, ["a"], error=lambda m: Located(f"f.yaml, line 2: {m}"), noun="parameter")
    assert unknown_key_message(3, ["a"]) == "unknown key '3'; allowed: a"


@pytest.mark.parametrize("module", ["cdp_lib.filters", "cdp_lib.metrics", "cdp_lib.funnel.params",
                                    "cdp_lib.segments.definition", "cdp_lib.monitors.definition",
                                    "cdp_lib.transforms.definitions", "cdp_lib.activation.triggers",
                                    "cdp_lib.rfm", "cdp_lib.cohorts", "cdp_lib.audience"])
def test_no_reader_writes_its_own_close_match_search(module):
    import importlib
    import inspect

    source = inspect.getsource(importlib.import_module(module))
    assert "difflib" not in source and "unknown key(s)" not in source


def test_suggest_leaves_out_names_much_further_than_the_best():
    allowed = ["cron", "depends_on", "enabled", "name", "notebook", "parameters", "retries"]
    assert suggest("retrys", allowed) == "; did you mean 'retries'?"  # not "... or 'parameters'"
