"""Customer search by part of a name or email, against a plain-loop reference."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from cdp_lib import InputError
from cdp_lib.customer360.search import ProfileIndex, label, search_profiles
from cdp_lib.testing import workspace_from_frames

PROFILES = pd.DataFrame({
    "profile_id": ["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"],
    "external_id": ["C1", "C2", None, "jo", None, None, "C7", None],
    "email": [" Jo.Smith@Example.com", "anna@jo-mail.org", None, "bob@example.com", "", "JOHN@x.io",
              "zoë@exämple.de", "smith@example.com"],
    "phone": ["+1 (555) 010-2030", None, "0044 20 7946 0000", None, None, None, None, None],
    "first_name": ["Jo", "Anna", "Joanna", None, "Mary Jo", " john ", "Zoë", None],
    "last_name": ["Smith", "Jonas", None, "Bob", "Smithers", None, "Ærø", None],
})


def reference(profiles: pd.DataFrame, text: str, limit: int):
    """The documented rule as a plain loop: identifier equal, else name/email prefix, else contains."""
    q = text.strip()
    low = q.lower()

    def clean(v):
        return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v).strip().lower()

    def digits(v):
        s = "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v).strip()
        d = "".join(ch for ch in s if ch.isdigit())
        return "+" + d if s.startswith("+") else ("+" + d[2:] if d.startswith("00") else d)

    scored = []
    for r in profiles.to_dict("records"):
        first, last, email = clean(r["first_name"]), clean(r["last_name"]), clean(r["email"])
        full = (first + " " + last).strip()
        keys = [first, last, full, email]
        phone_q = digits(q)
        if q in (r["profile_id"], r["external_id"]) or (email and email == low) or (
                len(phone_q.lstrip("+")) >= 5 and digits(r["phone"]) == phone_q):
            tier = 0
        elif len(q) < 2:
            continue
        elif any(k.startswith(low) for k in keys):
            tier = 1
        elif any(low in k for k in (full, email)):
            tier = 2
        else:
            continue
        scored.append((tier, full if tier else "", r["profile_id"]))
    scored.sort(key=lambda t: (t[0], t[1], t[2]) if t[0] else (0, "", t[2]))
    return [pid for _, _, pid in scored[:limit]], len(scored) > limit


@pytest.fixture(scope="module")
def ws():
    w = workspace_from_frames(profiles=PROFILES)
    yield w
    w.close()


@pytest.mark.parametrize("text", ["jo", "JO", " smith", "smi", "example", "mary jo", "Jonas", "ærø", "zoë",
                                  "C1", "p3", "+1 555 010 2030", "+44 20 7946 0000", "jo.smith@example.com",
                                  "nobody", "@", "o"])
def test_search_matches_the_reference(ws, text):
    want, capped = reference(PROFILES, text, 20)
    try:
        got = search_profiles(ws, text)
    except InputError as exc:  # one character and no identifier equal to it
        assert "at least 2 characters" in str(exc) and len(text.strip()) < 2 and want == []
        return
    assert got.rows.profile_id.tolist() == want and got.capped == capped


def test_exact_identifiers_come_first_then_prefixes_then_contains(ws):
    got = search_profiles(ws, "jo")
    # p4's external id is "jo"; Jo Smith, Joanna, john and Anna Jonas (last name) start with
    # it; "Mary Jo Smithers" only contains it; the rest do not match.
    assert dict(zip(got.rows.profile_id, got.rows.match)) == {
        "p4": "identifier", "p1": "starts with", "p3": "starts with", "p6": "starts with", "p2": "starts with",
        "p5": "contains"}
    assert got.rows.profile_id.tolist() == ["p4", "p2", "p1", "p3", "p6", "p5"]  # by name within a tier


def test_results_are_capped_and_say_so():
    rng = random.Random(7)
    n = 500
    profiles = pd.DataFrame({
        "profile_id": [f"q{i:04d}" for i in range(n)],
        "email": [f"{rng.choice(['ann', 'jo', 'li'])}{i}@{rng.choice(['a', 'b'])}.com" for i in range(n)],
        "first_name": [rng.choice(["Ann", "Jo", "Li", None]) for _ in range(n)],
        "last_name": [rng.choice(["Lee", "Jonas", "Ray", None]) for _ in range(n)],
    })
    w = workspace_from_frames(profiles=profiles)
    try:
        for text, limit in (("jo", 20), ("b.com", 7), ("ann1", 50), ("ray", 3)):
            got = search_profiles(w, text, limit=limit)
            full = profiles.assign(external_id=None, phone=None)
            want, capped = reference(full, text, limit)
            assert got.rows.profile_id.tolist() == want and got.capped == capped, text
            assert len(got.rows) <= limit
            if capped:
                assert got.message == f"Showing the first {limit:,} matches for {text!r}; type more of the name or email to narrow it."
        index = ProfileIndex.build(w)  # the same answers from a kept index
        assert search_profiles(index, "jo").rows.equals(search_profiles(w, "jo").rows)
    finally:
        w.close()


def test_bad_searches_are_refused_in_plain_words(ws):
    with pytest.raises(InputError, match="search: type part of a name or an email"):
        search_profiles(ws, "   ")
    with pytest.raises(InputError, match="search: type at least 2 characters of a name or email"):
        search_profiles(ws, "j")
    with pytest.raises(InputError, match="limit must be a whole number of at least 1, got 0"):
        search_profiles(ws, "jo", limit=0)
    assert search_profiles(ws, "nobody").message == "No one's name, email, phone or id matches 'nobody'."


def test_label_leaves_blanks_out():
    assert label({"profile_id": "p4", "first_name": None, "last_name": "Bob", "email": "", "phone": None}) == "Bob · p4"
