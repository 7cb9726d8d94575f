"""Find people by part of their name or email (the Customer 360 search box).

`search_profiles(ws, text)` answers in three tiers, best first: an identifier that equals the
text (`find_profiles`: email, phone, external id, profile id), then names or emails that start
with it, then names or emails that contain it. Matching is case-insensitive on trimmed text; a
name is "first last" and also each of the two parts. The search runs on `ProfileIndex`, a narrow
in-memory projection of `profiles` (id, names, email, phone) with sorted keys, built once per
snapshot, and returns at most `limit` rows, so the answer stays small and quick however many
people match (`capped` says more matched than shown).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdp_lib.errors import InputError
from cdp_lib.workspace import Workspace

MIN_PARTIAL = 2  # shorter text matches almost everyone: only exact identifiers are looked up
LIMIT = 20
EXACT, STARTS, CONTAINS = "identifier", "starts with", "contains"
SHOWN = ("profile_id", "first_name", "last_name", "email", "phone")
INDEXED = (*SHOWN, "external_id")


@dataclass
class ProfileSearch:
    """The rows found (`profile_id, first_name, last_name, email, phone, match`, best first)
    and whether more people matched than `limit` allowed to show."""

    text: str
    rows: pd.DataFrame
    capped: bool
    limit: int

    @property
    def message(self) -> str:
        """A sentence for the page: how many were found, and what to do when the list is cut."""
        n = len(self.rows)
        if n == 0:
            return f"No one's name, email, phone or id matches {self.text!r}."
        if self.capped:
            return f"Showing the first {n:,} matches for {self.text!r}; type more of the name or email to narrow it."
        return f"{n:,} match{'es' if n != 1 else ''} for {self.text!r}."


class ProfileIndex:
    """The search's narrow, in-memory projection of `profiles`, built once per snapshot.

    Holds id, names, email and phone, the lower-cased keys (first name, last name, "first
    last", email), each key also sorted for prefix look-ups by binary search, and a map from
    normalised identifiers (profile id, external id, email, phone; the rules of
    `cdp_lib.customer360.find_profiles`) to rows. Building reads 5 columns once; a search then
    costs a few binary searches and one scan of a single text column.
    """

    def __init__(self, table: pa.Table):
        """`table`: the columns of `SHOWN` and the keys `_first, _last, _full, _email, _phone,
        _pid, _ext` (lower-cased, trimmed, normalised; empty text for missing), as `build` makes."""
        self.rows = table.select(list(SHOWN)).to_pandas()
        key = {name: table.column(name).combine_chunks() for name in ("_first", "_last", "_full", "_email")}
        self.sorted = {}
        for name, values in key.items():  # byte order of UTF-8 = code-point order of Python str
            order = pc.sort_indices(values).to_numpy()
            self.sorted[name] = (pc.take(values, order).to_numpy(zero_copy_only=False), order)
        # position of each row in the result order (name, then id), for ranking within a tier
        ranked = pc.sort_indices(table, sort_keys=[("_full", "ascending"), ("_pid", "ascending")]).to_numpy()
        self.rank = np.empty(len(ranked), dtype=np.int64)
        self.rank[ranked] = np.arange(len(ranked))
        # one text per person holding every key, for "contains" (\x1f never occurs in a query)
        self.haystack = pc.binary_join_element_wise(key["_full"], key["_email"], "\x1f")
        self.idents = [table.column(c).combine_chunks() for c in ("_pid", "_ext")]
        self.email = key["_email"]
        self.phone = table.column("_phone").combine_chunks()

    @classmethod
    def build(cls, ws: Workspace) -> "ProfileIndex":
        """Read the projection once; keys are computed by the engine."""
        p = ws.profiles

        def text(name: str):
            return p[name].cast("string") if name in p.columns else ibis.null("string")

        def key(name: str):
            return text(name).strip().lower().fill_null("")

        raw_phone = text("phone").strip()
        digits = raw_phone.re_replace(r"[^0-9]", "")
        phone = ibis.cases(  # the rule of `find_profiles`
            (raw_phone.startswith("+"), "+" + digits),
            (digits.startswith("00"), "+" + digits.substr(2)),
            else_=digits,
        )
        phone = ibis.ifelse(digits.length() >= 5, phone, "").fill_null("")
        full = (key("first_name") + " " + key("last_name")).strip()
        table = p.select(
            **{c: text(c) for c in SHOWN}, _first=key("first_name"), _last=key("last_name"), _full=full,
            _email=key("email"), _phone=phone, _pid=text("profile_id").fill_null(""), _ext=text("external_id").fill_null(""),
        ).to_pyarrow()
        return cls(table)

    def exact(self, text: str) -> np.ndarray:
        """Rows whose profile id, external id, email (case-insensitive) or phone (digits) equals `text`."""
        from cdp_lib.customer360.view import _normal_phone

        tests = [(column, text) for column in self.idents] if text else []
        if text.strip():
            tests.append((self.email, text.lower()))
        phone = _normal_phone(text)
        if len(phone.lstrip("+")) >= 5:
            tests.append((self.phone, phone))
        hit = np.zeros(len(self.rank), dtype=bool)
        for column, value in tests:
            hit |= pc.equal(column, value).to_numpy(zero_copy_only=False)
        return np.flatnonzero(hit)

    def starting(self, q: str) -> np.ndarray:
        """Mask of rows with a key starting with `q` (binary search in each sorted key)."""
        mask = np.zeros(len(self.rank), dtype=bool)
        for values, order in self.sorted.values():
            lo = np.searchsorted(values, q, side="left")
            hi = np.searchsorted(values, q + "\U0010ffff", side="left")
            mask[order[lo:hi]] = True
        return mask

    def containing(self, q: str) -> np.ndarray:
        """Mask of rows whose "first last" or email contains `q`."""
        return pc.match_substring(self.haystack, q).to_numpy(zero_copy_only=False)

    def best(self, mask: np.ndarray, k: int) -> np.ndarray:
        """The first `k` rows of `mask` in result order (name, then id)."""
        rows = np.flatnonzero(mask)
        if len(rows) > k:
            rows = rows[np.argpartition(self.rank[rows], k - 1)[:k]]
        return rows[np.argsort(self.rank[rows], kind="stable")]


def search_profiles(ws: Workspace | ProfileIndex, text: str, limit: int = LIMIT) -> ProfileSearch:
    """People whose identifier equals `text`, or whose name or email starts with / contains it.

    `ws` is a workspace (the index is built for this one search) or a `ProfileIndex` kept by
    the caller (the app keeps one per snapshot). Raises `InputError` for empty text, or text
    shorter than 2 characters that is no identifier.
    """
    query = (text or "").strip()
    if not query:
        raise InputError("search: type part of a name or an email (or a phone number or id)")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InputError(f"search: limit must be a whole number of at least 1, got {limit!r}")
    index = ws if isinstance(ws, ProfileIndex) else ProfileIndex.build(ws)
    exact = np.zeros(len(index.rank), dtype=bool)
    exact[index.exact(query)] = True
    tiers = [(EXACT, exact)]
    if len(query) < MIN_PARTIAL:
        if not exact.any():
            raise InputError(f"search: type at least {MIN_PARTIAL} characters of a name or email")
    else:
        q = query.lower()
        starts = index.starting(q) & ~exact
        tiers += [(STARTS, starts), (CONTAINS, index.containing(q) & ~exact & ~starts)]
    picked, labels = [], []
    for label_, mask in tiers:
        rows = index.best(mask, limit + 1 - len(picked))
        picked += rows.tolist()
        labels += [label_] * len(rows)
        if len(picked) > limit:
            break
    out = index.rows.iloc[picked][list(SHOWN)].assign(match=labels).reset_index(drop=True)
    out = out.astype(object).where(out.notna(), None)
    return ProfileSearch(query, out.head(limit), capped=len(out) > limit, limit=limit)


def label(row) -> str:
    """How a found person reads in the results list: name · email · id (blanks left out)."""
    name = " ".join(str(v).strip() for v in (row.get("first_name"), row.get("last_name")) if _present(v))
    parts = [name, row.get("email"), row.get("phone"), row.get("profile_id")]
    return " · ".join(str(v).strip() for v in parts if _present(v))


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and pd.isna(v)) and str(v).strip() != ""
