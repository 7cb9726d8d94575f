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

    def __init__(self, rows: pd.DataFrame):
        self.rows = rows.reset_index(drop=True)
        low = {c: self.rows[c].fillna("").astype(str).str.strip().str.lower() for c in ("first_name", "last_name", "email")}
        full = (low["first_name"] + " " + low["last_name"]).str.strip()
        self.keys = {"first": low["first_name"], "last": low["last_name"], "full": full, "email": low["email"]}
        self.sorted = {}
        for name, key in self.keys.items():
            values = key.to_numpy(dtype=str)
            order = np.argsort(values, kind="stable")
            self.sorted[name] = (values[order], order)
        # position of each row in the result order (name, then id), for ranking within a tier
        ranked = np.lexsort((self.rows.profile_id.fillna("").to_numpy(dtype=str), full.to_numpy(dtype=str)))
        self.rank = np.empty(len(ranked), dtype=np.int64)
        self.rank[ranked] = np.arange(len(ranked))
        # one text per person holding every key, for "contains" (\x1f never occurs in a query)
        self.haystack = pa.array((full + "\x1f" + low["email"]).to_numpy(dtype=str))
        self.idents = [pa.array(self.rows[c].fillna("").to_numpy(dtype=str)) for c in ("profile_id", "external_id")]
        self.email = pa.array(low["email"].to_numpy(dtype=str))
        self.phone = pa.array(_normal_phones(self.rows["phone"]).to_numpy(dtype=str))

    @classmethod
    def build(cls, ws: Workspace) -> "ProfileIndex":
        p = ws.profiles
        cols = {c: (p[c].cast("string") if c in p.columns else ibis.null("string")) for c in INDEXED}
        return cls(p.select(**cols).execute())

    def exact(self, text: str) -> np.ndarray:
        """Rows whose profile id, external id, email (case-insensitive) or phone (digits) equals `text`."""
        from cdp_lib.customer360 import _normal_phone

        tests = [(column, text) for column in self.idents]
        if text.strip():
            tests.append((self.email, text.lower()))
        phone = _normal_phone(text)
        if len(phone.lstrip("+")) >= 5:
            tests.append((self.phone, phone))
        hit = np.zeros(len(self.rows), dtype=bool)
        for column, value in tests:
            hit |= pc.equal(column, value).to_numpy(zero_copy_only=False)
        return np.flatnonzero(hit)

    def starting(self, q: str) -> np.ndarray:
        """Rows with a key starting with `q` (binary search in each sorted key)."""
        found = []
        for values, order in self.sorted.values():
            lo = np.searchsorted(values, q, side="left")
            hi = np.searchsorted(values, q + "\uffff", side="left")
            found.append(order[lo:hi])
        return np.unique(np.concatenate(found)) if found else np.array([], dtype=int)

    def containing(self, q: str) -> np.ndarray:
        return np.flatnonzero(pc.match_substring(self.haystack, q).to_numpy(zero_copy_only=False))


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
    tiers = [(EXACT, index.exact(query))]
    if len(query) < MIN_PARTIAL:
        if len(tiers[0][1]) == 0:
            raise InputError(f"search: type at least {MIN_PARTIAL} characters of a name or email")
    else:
        q = query.lower()
        starts = index.starting(q)
        contains = np.setdiff1d(index.containing(q), starts)
        tiers += [(STARTS, starts), (CONTAINS, contains)]
    picked, labels = np.array([], dtype=np.int64), []
    for label_, rows in tiers:
        rows = np.setdiff1d(np.asarray(rows, dtype=np.int64), picked)
        rows = rows[np.argsort(index.rank[rows], kind="stable")][: limit + 1 - len(picked)]
        picked = np.concatenate([picked, rows])
        labels += [label_] * len(rows)
        if len(picked) > limit:
            break
    out = index.rows.iloc[picked][list(SHOWN)].assign(match=labels).reset_index(drop=True)
    out = out.astype(object).where(out.notna(), None)
    return ProfileSearch(query, out.head(limit), capped=len(out) > limit, limit=limit)


def _normal_phones(phones: pd.Series) -> pd.Series:
    """`cdp_lib.customer360._normal_phone` for a column: digits, `+` or `00` as the international prefix."""
    s = phones.fillna("").astype(str).str.strip()
    digits = s.str.replace(r"[^0-9]", "", regex=True)
    out = digits.where(~digits.str.startswith("00"), "+" + digits.str[2:])
    out = out.where(~s.str.startswith("+"), "+" + digits)
    return out.where(digits.str.len() >= 5, "")


def label(row) -> str:
    """How a found person reads in the results list: name · email · id (blanks left out)."""
    name = " ".join(str(v).strip() for v in (row.get("first_name"), row.get("last_name")) if _present(v))
    parts = [name, row.get("email"), row.get("phone"), row.get("profile_id")]
    return " · ".join(str(v).strip() for v in parts if _present(v))


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and pd.isna(v)) and str(v).strip() != ""
