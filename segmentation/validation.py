"""From the raw CRM extract to clean relations, with every bad record reported row by row.

Spellings are mapped to the rules' codes and amounts to cents; the pandera models in
`schemas.crm` then check every relation lazily. Each failure becomes one row of the
data-quality report: an *error* leaves the household out, a *warning* keeps it with the value
treated as unknown or the row ignored.
"""

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc
from pyarrow import ArrowInvalid, ArrowNotImplementedError

from schemas.crm import MODELS
from segmentation.crm import CrmExtract
from segmentation.frames import (
    arrow_text,
    count_by,
    each_once,
    member_of,
    positions,
    positions_of,
)
from segmentation.money import to_cents
from segmentation.rules import Rules
from segmentation.text import as_text, map_distinct, normalize_text

ISSUE_COLUMNS = ["source", "record_id", "household_id", "column", "check", "value", "severity",
                 "action"]
LEFT_OUT = "household left out"
UNKNOWN = "value treated as unknown"
IGNORED = "row ignored"

# What a failed check on (relation, column) does to the record. Columns not named: a warning.
_ERRORS = {
    ("households", "household_id"), ("households", "household_type"), ("households", "status"),
    ("members", "member_id"), ("holdings", "holding_id"), ("holdings", "kind"),
    ("holdings", "status"),
}
CONTACTS = ("email", "call", "text")  # activity kinds whose answers make a run of silence
_ROW_LEVEL = {"activities", "household_tags", "segment_overrides"}
_ID_COLUMN = {"households": "household_id", "members": "member_id", "holdings": "holding_id",
              "activities": "activity_id", "household_tags": "household_id",
              "segment_overrides": "household_id"}
_INVISIBLE = r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]"
# What `str.strip` removes from ASCII text, for Arrow's regular expressions.
_EDGE_BLANK = r"^[\t\n\v\f\r \x1c-\x1f]|[\t\n\v\f\r \x1c-\x1f]$"
# A zone after a time of day: the "-30" ending a bare date "2025-11-30" is its day, not a zone.
_TZ_SUFFIX = re.compile(r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[+-]\d{2}(?::?\d{2})?|Z)$")


@dataclass
class Issues:
    """Row-level data-quality facts collected along the way."""

    frames: list[pd.DataFrame] = field(default_factory=list)

    def add(self, source, rows: pd.DataFrame, column, check, severity, action, value=None):
        """Record one issue per row of `rows` (which must hold the relation's id columns)."""
        if rows.empty:
            return
        id_col = _ID_COLUMN[source]
        values = rows[column] if value is None else value
        self.frames.append(pd.DataFrame({
            "source": source,
            "record_id": _record_ids(rows, id_col),
            "household_id": rows["household_id"].astype("str")
            if "household_id" in rows else pd.NA,
            "column": column,
            "check": check,
            "value": pd.Series(values, index=rows.index).map(_as_text, na_action="ignore"),
            "severity": severity,
            "action": action,
        }))

    def frame(self) -> pd.DataFrame:
        if not self.frames:
            return pd.DataFrame({c: pd.Series(dtype="str") for c in ISSUE_COLUMNS})
        return pd.concat(self.frames, ignore_index=True)[ISSUE_COLUMNS].astype("str")


def _record_ids(rows: pd.DataFrame, id_col: str) -> pd.Series:
    ids = rows[id_col].astype("str")
    positions = pd.Series([f"row {i + 1}" for i in rows.index], index=rows.index, dtype="str")
    return ids.where(rows[id_col].notna(), positions)


def _as_text(value) -> str:
    return str(value)


@dataclass
class Prepared:
    """Clean relations of the households that can be segmented, and what was wrong."""

    households: pd.DataFrame
    members: pd.DataFrame
    holdings: pd.DataFrame
    activities: pd.DataFrame  # only those the rules count: no-shows and contacts in the window
    tags: pd.DataFrame
    overrides: pd.DataFrame
    issues: pd.DataFrame
    statuses: pd.DataFrame  # household_id, status of every readable CRM household
    in_scope: int  # active households, plus those whose status could not be read
    left_out: int

    @property
    def left_out_share(self) -> float:
        return self.left_out / self.in_scope if self.in_scope else 0.0


def _ids(values: pd.Series) -> pd.Series:
    """Identifiers as stripped text; numbers from a loose CRM become their text."""
    out = values
    if not pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        out = map_distinct(values, as_text)
    # One spelling per id: composed accents, no invisible characters, no edge spaces. Plain
    # ASCII ids (nearly all) skip the per-value Unicode work.
    out = out.astype("str")
    # Printable ASCII without blanks throughout (nearly every CRM's ids): nothing to respell.
    if pc.all(pc.match_substring_regex(arrow_text(out), r"^[!-~]+$")).as_py() is not False:
        return out
    fancy = ~out.str.isascii().fillna(True).astype(bool)
    if fancy.any():
        out[fancy] = out[fancy].str.normalize("NFC").str.replace(_INVISIBLE, "", regex=True)
    # Clean ids (nearly all) are left as they are, not copied: only a column with a blank
    # at an edge is stripped, only one with an empty id masked.
    text = arrow_text(out)
    if fancy.any() or pc.any(pc.match_substring_regex(text, _EDGE_BLANK)).as_py():
        out = out.str.strip()
        text = arrow_text(out)
    return out.where(out != "") if pc.any(pc.equal(text, "")).as_py() else out


def _codes(values: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """Map spellings to codes; an unmapped spelling stays as written so the check can show it."""
    def code(value) -> str:
        return mapping.get(normalize_text(str(value)), str(value))

    if isinstance(values.dtype, pd.StringDtype):  # already codes, as a clean CRM has them
        distinct = pc.unique(arrow_text(values)).drop_null().to_pylist()
        if all(code(value) == value for value in distinct):
            return values
    return map_distinct(values, code)


def _amounts(frame, source, column, issues: Issues, rules: Rules):
    """Parse one amount column to cents in place; unreadable is an error, absurd a warning."""
    raw = frame[column]
    cents, unreadable, huge = to_cents(raw)
    issues.add(source, frame[unreadable], column, "amount_readable", "error", LEFT_OUT)
    limit = int(rules.quality.absurd_amount * 100)
    absurd = cents.abs().gt(limit).fillna(False) | huge
    issues.add(source, frame[absurd], column, f"amount_at_most_{rules.quality.absurd_amount:f}",
               "warning", UNKNOWN)
    cents = cents.mask(absurd)
    frame[f"_raw_{column}"] = raw
    frame[column] = cents
    return frame.index[unreadable]


def _dates(frame: pd.DataFrame, source: str, column: str, issues: Issues, action: str) -> None:
    """Parse an ISO date column in place; a date that cannot be read is reported."""
    raw = frame[column]
    text = map_distinct(raw, as_text) if raw.dtype == object else raw
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    blank = text.astype("str").str.strip().eq("").fillna(False).astype(bool)
    bad = raw.notna() & parsed.isna() & ~blank
    issues.add(source, frame[bad], column, "iso_date", "warning", action, value=raw[bad])
    frame[column] = parsed.astype("datetime64[us]")
    frame[f"_bad_{column}"] = bad


def _timestamps(values: pd.Series, timezone: str) -> pd.Series:
    """Timestamps to UTC; those without a zone are the firm's local time."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        local = values.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward")
        return local.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        try:  # what PostgreSQL prints for TIMESTAMPTZ: every value with its zone, read by Arrow
            parsed = arrow_text(values).cast(pyarrow.timestamp("us", "UTC"))
            return pd.Series(parsed.to_numpy(), index=values.index).dt.tz_localize("UTC")
        except (ArrowInvalid, ArrowNotImplementedError):
            pass  # some value lacks a zone or is not ISO 8601: the careful way below
    text = (map_distinct(values, as_text) if values.dtype == object else values).astype("str")
    aware = text.str.contains(_TZ_SUFFIX, na=False)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    out[aware] = pd.to_datetime(text[aware], errors="coerce", format="ISO8601", utc=True)
    naive = pd.to_datetime(text[~aware], errors="coerce", format="ISO8601")
    out[~aware] = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward")
    return out


def _check(source: str, frame: pd.DataFrame, issues: Issues) -> pd.Index:
    """Validate with the relation's pandera model; report failures; return error rows' index."""
    try:
        MODELS[source].validate(frame, lazy=True)
        return pd.Index([])
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    cases = cases[cases["index"].notna() & cases["column"].notna()]
    errors = []
    for (column, check), group in cases.groupby(["column", "check"], sort=False):
        rows = frame.loc[group["index"].astype(int)]
        is_error = (source, column) in _ERRORS
        action = (LEFT_OUT if is_error else IGNORED if source in _ROW_LEVEL else UNKNOWN)
        values = rows[f"_raw_{column}" if f"_raw_{column}" in frame else column]
        issues.add(source, rows, column, _check_name(str(check)),
                   "error" if is_error else "warning",
                   action, value=values)
        if is_error:
            errors.extend(rows.index)
        elif source in _ROW_LEVEL:
            frame.loc[rows.index, "_ignore"] = True
        else:
            frame.loc[rows.index, column] = pd.NA
    return pd.Index(errors)


def _check_name(check: str) -> str:
    """pandera's check names, in the report's vocabulary."""
    if check.startswith("isin("):
        return "known_code"
    if check.startswith("greater_than_or_equal_to(0"):
        return "not_negative"
    return {"field_uniqueness": "unique_id", "not_nullable": "present"}.get(check, check)


def prepare(extract: CrmExtract, rules: Rules, as_of: dt.date) -> Prepared:
    """Clean and check every relation; keep the active households that can be segmented."""
    issues = Issues()
    # Copy-on-write: the extract is never changed, and only the columns replaced are new.
    frames = {name: getattr(extract, name).reset_index(drop=True) for name in (
        "households", "members", "holdings", "activities", "household_tags", "segment_overrides")}

    hh = frames["households"]
    hh["household_id"] = _ids(hh["household_id"])
    hh["referred_by_household_id"] = _ids(hh["referred_by_household_id"])
    hh["household_type"] = _codes(hh["household_type"], rules.vocabulary_map("household_type"))
    hh["status"] = _codes(hh["status"], rules.vocabulary_map("status"))
    hh["relationship"] = _codes(hh["relationship"], rules.vocabulary_map("relationship"))
    bad_rows = list(_amounts(hh, "households", "net_worth", issues, rules))
    bad_rows += list(_check("households", hh, issues))
    # A row that fails several checks (a blank id is missing and repeated) counts once.
    bad_rows = list(dict.fromkeys(bad_rows))
    # Every row of a duplicated id is in doubt; the id leaves with all of them.
    left_out_ids = set(hh.loc[bad_rows, "household_id"].dropna())
    unidentified = hh.loc[bad_rows, "household_id"].isna() & hh.loc[bad_rows, "status"].isin(
        ["active"])
    in_scope_mask = ~hh["status"].isin(["inactive", "prospect"])
    known = hh["household_id"].notna() & each_once(hh["household_id"])
    statuses = hh.loc[known, ["household_id", "status"]]
    all_ids = pd.Index(hh["household_id"].dropna().unique())

    def child(source, amount_cols=()):
        frame = frames[source]
        id_col = _ID_COLUMN[source]
        frame[id_col] = _ids(frame[id_col])
        frame["household_id"] = _ids(frame["household_id"])
        frame["_ignore"] = False
        bad = []
        for column in amount_cols:
            bad += list(_amounts(frame, source, column, issues, rules))
        return frame, bad

    members, bad = child("members", ("annual_income", "annual_savings"))
    _dates(members, "members", "business_since", issues, UNKNOWN)
    bad += list(_check("members", members, issues))
    left_out_ids |= set(members.loc[bad, "household_id"].dropna())

    holdings, bad = child("holdings", ("market_value", "annual_premium"))
    holdings["kind"] = _codes(holdings["kind"], rules.vocabulary_map("holding_kind"))
    holdings["status"] = _codes(holdings["status"], rules.vocabulary_map("holding_status"))
    bad += list(_check("holdings", holdings, issues))
    left_out_ids |= set(holdings.loc[bad, "household_id"].dropna())

    activities, _ = child("activities")
    activities["kind"] = _codes(activities["kind"], rules.vocabulary_map("activity_kind"))
    activities["outcome"] = _codes(activities["outcome"],
                                   rules.vocabulary_map("activity_outcome"))
    raw_times = activities["occurred_at"]
    activities["occurred_at"] = _timestamps(raw_times, rules.timezone)
    activities["_raw_occurred_at"] = raw_times
    _check("activities", activities, issues)

    tags = frames["household_tags"]
    tags["household_id"] = _ids(tags["household_id"])
    tags["_ignore"] = False
    tags["tag"] = _codes(tags["tag"], rules.vocabulary_map("tag"))
    _check("household_tags", tags, issues)

    overrides = frames["segment_overrides"]
    overrides["household_id"] = _ids(overrides["household_id"])
    overrides["_ignore"] = False
    overrides["tier"] = overrides["tier"].astype("str").str.replace(r"\s", "", regex=True)
    overrides["tier"] = overrides["tier"].str.upper()
    # An override whose expiry cannot be read is not applied: it might have expired.
    _dates(overrides, "segment_overrides", "expires_on", issues, "override ignored")
    overrides.loc[overrides["_bad_expires_on"], "_ignore"] = True
    _check("segment_overrides", overrides, issues)
    overrides = _active_overrides(overrides, issues, as_of)

    # Rows whose household is not in the CRM cannot be used. Each row is placed on its
    # household once; the rest is indexing.
    children = {"members": members, "holdings": holdings, "activities": activities,
                "household_tags": tags, "segment_overrides": overrides}
    keys = [frame["household_id"] for frame in children.values()]
    placed = dict(zip(children, positions_of(keys, all_ids), strict=True))
    for source, frame in children.items():
        orphan = (placed[source] < 0) & ~frame["_ignore"].to_numpy()
        issues.add(source, frame[orphan], "household_id", "household_exists", "warning", IGNORED)
        frame.loc[orphan, "_ignore"] = True

    hh_ok = hh[in_scope_mask & hh["household_id"].notna()
               & ~member_of(hh["household_id"], left_out_ids)]
    hh_ok = hh_ok[hh_ok["status"] == "active"]
    # An active household whose own rows were fine but whose children failed is left out too.
    in_scope_ids = pd.Index(hh.loc[in_scope_mask, "household_id"].dropna().unique())
    left_out = int(member_of(in_scope_ids, left_out_ids).sum()) + int(unidentified.sum())
    in_scope = len(in_scope_ids) + int(unidentified.sum())

    is_kept = np.append(member_of(all_ids, hh_ok["household_id"]), False)  # [-1]: no household
    hh_ok = _check_referrals(hh_ok, issues, all_ids)
    _check_membership(hh_ok, members["household_id"][~members["_ignore"].to_numpy()], issues)

    def kept(frame, source, rows=True):
        rows = rows & ~frame["_ignore"].to_numpy() & is_kept[placed[source]]
        # The working columns go first: only the relation's own are filtered.
        frame = frame.drop(columns=[c for c in frame.columns if c.startswith("_")])
        return frame if rows.all() else frame[rows]

    return Prepared(
        households=hh_ok.drop(columns=[c for c in hh_ok.columns if c.startswith("_")]),
        members=kept(members, "members"), holdings=kept(holdings, "holdings"),
        activities=kept(activities, "activities", _counted(activities, rules, as_of)),
        tags=kept(tags, "household_tags"),
        overrides=kept(overrides, "segment_overrides"), issues=issues.frame(),
        statuses=statuses, in_scope=in_scope, left_out=left_out,
    )


def window_bounds(as_of: dt.date, rules: Rules) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The activity window in UTC: [as-of minus the window, as-of) at midnight, firm time."""
    zone = ZoneInfo(rules.timezone)
    end = pd.Timestamp(dt.datetime.combine(as_of, dt.time(), zone))
    start = pd.Timestamp(dt.datetime.combine(
        as_of - pd.DateOffset(months=rules.behaviour.window_months), dt.time(), zone))
    return start.tz_convert("UTC"), end.tz_convert("UTC")


def _counted(activities: pd.DataFrame, rules: Rules, as_of: dt.date) -> np.ndarray:
    """The activities the rules count: no-shows and contacts, inside the window.

    The other rows (attended or cancelled meetings, anything older) are checked and reported
    like the rest but not handed on: in the generated books, a third of the rows are not copied.
    """
    start, end = window_bounds(as_of, rules)
    at, kind = activities["occurred_at"], activities["kind"]
    inside = (at >= start) & (at < end)
    no_show = (kind == "meeting") & (activities["outcome"] == "no_show")
    counted = inside & (no_show | kind.isin(CONTACTS))
    return counted.to_numpy(dtype=bool, na_value=False)


def _active_overrides(overrides: pd.DataFrame, issues: Issues, as_of: dt.date) -> pd.DataFrame:
    # The same override entered twice is one override, not a conflict.
    twice = overrides.duplicated(["household_id", "tier", "reason", "expires_on"])
    overrides.loc[twice, "_ignore"] = True
    usable = overrides[~overrides["_ignore"]]
    expired = usable["expires_on"].notna() & (usable["expires_on"] < pd.Timestamp(as_of))
    issues.add("segment_overrides", usable[expired], "expires_on", "override_not_expired",
               "warning", "expired override ignored")
    overrides.loc[usable.index[expired], "_ignore"] = True
    active = overrides[~overrides["_ignore"]]
    clash = active["household_id"].duplicated(keep=False) & active["household_id"].notna()
    issues.add("segment_overrides", active[clash], "tier", "one_override_per_household",
               "warning", "conflicting overrides ignored")
    overrides.loc[active.index[clash], "_ignore"] = True
    return overrides


def _check_referrals(hh: pd.DataFrame, issues: Issues, all_ids: pd.Index) -> pd.DataFrame:
    hh = hh.copy()
    ref = hh["referred_by_household_id"]
    itself = ref.notna() & (ref == hh["household_id"])
    unknown = ref.notna() & ~member_of(ref, all_ids)
    issues.add("households", hh[itself], "referred_by_household_id", "not_self_referral",
               "warning", "referral ignored")
    issues.add("households", hh[unknown], "referred_by_household_id", "referrer_exists",
               "warning", "referral ignored")
    hh.loc[itself | unknown, "referred_by_household_id"] = pd.NA
    return hh


def _check_membership(hh: pd.DataFrame, member_households: pd.Series, issues: Issues) -> None:
    """Report households whose type says one member and that have two, or the reverse."""
    n = pd.Series(count_by(positions(member_households, pd.Index(hh["household_id"])), len(hh)),
                  index=hh.index)
    kind = hh["household_type"]
    expected = np.where(kind == "couple", 2, np.where(kind == "individual", 1, -1))
    wrong = n != expected
    rows = hh[wrong]
    issues.add("households", rows, "household_type", "member_count_matches_type", "warning",
               "segmented on the members present", value=rows["household_type"] + " with "
               + n[wrong].astype(str) + " member(s)")
