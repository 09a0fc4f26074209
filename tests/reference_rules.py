"""A plain reference of the segmentation rules, one household at a time, to check the engine by.

It shares only the cleaning layer (`segmentation.validation.prepare`) and text folding with the
engine, and re-derives everything after it from segmentation-rules.md (sections 1 to 6) and
the rules file: loops over households, money as Decimal, percentiles as exact fractions.
"""

import calendar
import datetime as dt
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from itertools import groupby
from zoneinfo import ZoneInfo

import pandas as pd

from segmentation.rules import Rules
from segmentation.text import normalize_text
from segmentation.validation import Prepared

FIGURES = ("aum", "premiums", "savings", "income", "net_worth")
OUTPUT_NAMES = {"aum": "aum", "premiums": "insurance_premiums", "savings": "annual_savings",
                "income": "annual_income", "net_worth": "net_worth"}
TIERS = "ABCDE"
ONE_UP = {"B": "A", "C": "B", "D": "B"}
MEMBERS_OF = {"individual": 1, "couple": 2}
CONTACTS = ("email", "call", "text")


def _known(value) -> bool:
    return value is not None and not pd.isna(value)


def _money(cents) -> Decimal | None:
    return Decimal(int(cents)).scaleb(-2) if _known(cents) else None


def _add(values: list, expected: int) -> tuple[Decimal | None, bool]:
    """Sum of the known amounts, and whether it is only a lower bound (unknown is not zero)."""
    known = [v for v in values if v is not None]
    if not known:
        return None, False
    return sum(known, Decimal(0)), len(known) < expected


def _records(frame: pd.DataFrame) -> list[dict]:
    """The rows of a frame as plain dictionaries (to_dict is slow on Arrow-backed text)."""
    columns = list(frame.columns)
    return [dict(zip(columns, values, strict=True))
            for values in zip(*(frame[c].tolist() for c in columns), strict=True)]


def _months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` earlier, or that month's last day when it is shorter."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def _category(text, taxonomy) -> str | None:
    """First category (in the rules' order) one of whose phrases is whole words of the text."""
    if not _known(text):
        return None
    words = f" {normalize_text(str(text))} "
    for category, phrases in taxonomy:
        if any(phrase in words for phrase in phrases):
            return category
    return None


def _households(prepared: Prepared, rules: Rules, as_of: dt.date) -> dict[str, dict]:
    """Section 1 and 2: each household's figures, occupations and behaviours."""
    out = {}
    for row in _records(prepared.households):
        out[row["household_id"]] = {
            "type": row["household_type"],
            "relationship": row["relationship"] if _known(row["relationship"]) else None,
            "referrer": row["referred_by_household_id"]
            if _known(row["referred_by_household_id"]) else None,
            "net_worth": _money(row["net_worth"]),
            "members": [], "investments": [], "policies": [], "tags": set(),
            "occupations": set(), "no_shows": 0, "streak": 0,
        }
    taxonomy = [(e.category, [f" {normalize_text(p)} " for p in e.phrases])
                for e in rules.occupations]
    seen = {}  # occupation text -> category, worked out once per distinct text
    seasoned_by = _years_before(as_of, rules.behaviour.mature_entrepreneur_years)
    for m in _records(prepared.members):
        h = out.get(m["household_id"])
        if h is None:
            continue
        h["members"].append(m)
        text = m["occupation"]
        if text not in seen:
            seen[text] = _category(text, taxonomy)
        category = seen[text]
        if category:
            h["occupations"].add(category)
        if category == "entrepreneur" and _known(m["business_since"]) \
                and m["business_since"].date() <= seasoned_by:
            h["occupations"].add("mature_entrepreneur")
    for p in _records(prepared.holdings):
        h = out.get(p["household_id"])
        if h is None or p["status"] != "open":
            continue
        if p["kind"] == "investment":
            h["investments"].append(_money(p["market_value"]))
        elif p["kind"] == "insurance":
            h["policies"].append(_money(p["annual_premium"]))
    for t in _records(prepared.tags):
        if t["household_id"] in out:
            out[t["household_id"]]["tags"].add(t["tag"])
    _read_activities(prepared, rules, as_of, out)

    for h in out.values():
        expected = max(MEMBERS_OF[h["type"]], len(h["members"]))
        h["figures"], h["partial"] = {}, {}
        for figure, column in (("income", "annual_income"), ("savings", "annual_savings")):
            values = [_money(m[column]) for m in h["members"]]
            h["figures"][figure], h["partial"][figure] = _add(values, expected)
        for figure, values in (("aum", h["investments"]), ("premiums", h["policies"])):
            # No open account (or policy) is a known zero.
            total, partial = _add(values, len(values))
            h["figures"][figure] = Decimal(0) if not values else total
            h["partial"][figure] = partial
        h["figures"]["net_worth"], h["partial"]["net_worth"] = h["net_worth"], False
        if "mature_entrepreneur" in h["tags"]:
            h["occupations"].add("mature_entrepreneur")
        b = rules.behaviour
        h["behaviours"] = set(h["tags"])
        if h["no_shows"] >= b.missed_meetings:
            h["behaviours"].add("no_show")
        if h["streak"] >= b.unanswered_in_a_row:
            h["behaviours"].add("unresponsive")
    return out


def _read_activities(prepared: Prepared, rules: Rules, as_of: dt.date, out: dict) -> None:
    """No-shows and the longest run of unanswered contacts, in [as-of - window, as-of)."""
    zone = ZoneInfo(rules.timezone)
    end = dt.datetime.combine(as_of, dt.time(), zone)
    start = dt.datetime.combine(_months_before(as_of, rules.behaviour.window_months),
                                dt.time(), zone)
    contacts = defaultdict(list)
    for a in _records(prepared.activities):
        h = out.get(a["household_id"])
        when = a["occurred_at"]
        if h is None or not _known(when) or not (start <= when < end):
            continue
        if a["kind"] == "meeting" and a["outcome"] == "no_show":
            h["no_shows"] += 1
        elif a["kind"] in CONTACTS:
            contacts[a["household_id"]].append((when, a["activity_id"], a["outcome"]))
    for hid, rows in contacts.items():
        run = best = 0
        for _, _, outcome in sorted(rows):
            run = run + 1 if outcome == "unanswered" else 0
            best = max(best, run)
        out[hid]["streak"] = best


def _met(h: dict, rules: Rules, tier: str, referrer_tier: str | None,
         margin: Decimal = Decimal(0)) -> dict[str, bool]:
    """Which of the tier's characteristics the household has; each counts once."""
    spec, kind = rules.tiers[tier], h["type"]
    met = {}
    for figure, line in spec.more_than.items():
        value = h["figures"][figure]  # a partial sum is a lower bound: enough for "more than"
        met[f"{figure}_gt"] = value is not None and value > getattr(line, kind) * (1 - margin)
    for figure, line in spec.less_than.items():
        value = h["figures"][figure]
        met[f"{figure}_lt"] = (value is not None and not h["partial"][figure]
                               and value < getattr(line, kind))
    if spec.relationships:
        met["relationship"] = h["relationship"] in spec.relationships
    if spec.referred_by:
        met["referral"] = referrer_tier in spec.referred_by
    if spec.occupations:
        met["occupation"] = bool(h["occupations"] & set(spec.occupations))
    for behaviour in spec.behaviours:
        met[behaviour] = behaviour in h["behaviours"]
    return met


def _percentiles(values: dict[str, object]) -> dict[str, Fraction]:
    """0-100 percentile ranks of the known values, 100 highest, ties sharing the average rank."""
    # Sorting on (float, exact) is exact, since rounding to float never inverts an order.
    known = sorted((float(v), v, k) for k, v in values.items() if v is not None)
    n, out, first = len(known), {}, 0
    for _, run in groupby(known, key=lambda item: item[:2]):
        keys = [k for _, _, k in run]
        average = Fraction(2 * first + len(keys) - 1, 2)  # zero-based rank of the run
        percentile = Fraction(100) if n == 1 else average / (n - 1) * 100
        out.update(dict.fromkeys(keys, percentile))
        first += len(keys)
    return out


def _scores(hh: dict[str, dict], rules: Rules) -> dict[str, dict]:
    """Section 5: value score, value percentile and rank of every household."""
    weights = {f: Fraction(str(rules.value_weights.get(f, 0))) for f in FIGURES}
    per_figure = {}
    for kind in MEMBERS_OF:
        for f in FIGURES:
            per_figure[kind, f] = _percentiles(
                {hid: h["figures"][f] for hid, h in hh.items() if h["type"] == kind})
    score = {}
    for hid, h in hh.items():
        got = [(weights[f], per_figure[h["type"], f][hid]) for f in FIGURES
               if hid in per_figure[h["type"], f]]
        total = sum(w for w, _ in got)
        score[hid] = sum(w * p for w, p in got) / total if total else None
    percentile = _percentiles(score)
    order = sorted(hh, key=lambda hid: _ranking_key(hid, score[hid], hh[hid]))
    rank = {hid: i + 1 for i, hid in enumerate(order)}
    return {hid: {"score": score[hid], "percentile": percentile.get(hid), "rank": rank[hid]}
            for hid in hh}


def _ranking_key(hid: str, score, h: dict):
    """Best first: higher value score, then higher AUM, then household id; unknowns last."""
    aum = h["figures"]["aum"]
    exact = score or 0
    return (score is None, -float(exact), -exact, aum is None, -(aum or 0), hid)


def _assign(hh, rules, referrer_tiers, scores, overrides, cache):
    """Sections 3 and 4 for the whole book: tier, flags, cap and final tier after overrides."""
    res = {}
    for hid, h in hh.items():
        key = hid, referrer_tiers[hid]  # only the referral characteristic changes between passes
        if key not in cache:
            cache[key] = {t: _met(h, rules, t, referrer_tiers[hid]) for t in TIERS}
        met = cache[key]
        count = {t: sum(met[t].values()) for t in TIERS}
        qualifies = {t: count[t] >= rules.tiers[t].needed for t in TIERS}
        tier = next((t for t in rules.order if qualifies[t]), rules.fallback)
        res[hid] = {"met": met, "count": count, "tier": tier, "capped": False,
                    "no_criteria_met": not any(qualifies.values()),
                    "conflicting_signals": qualifies["E"] and any(qualifies[t] for t in "ABC")}
    limit = rules.a_cap.count
    if limit is None and rules.a_cap.share is not None:
        limit = int(Decimal(str(rules.a_cap.share)) * len(hh))
    candidates = [hid for hid, r in res.items() if r["tier"] == "A" and hid not in overrides]
    if limit is not None and len(candidates) > limit:
        candidates.sort(key=lambda hid: _ranking_key(hid, scores[hid]["score"], hh[hid]))
        for hid in candidates[limit:]:
            res[hid].update(tier="B", capped=True)
    for hid, r in res.items():
        r["final"] = overrides[hid]["tier"][0] if hid in overrides else r["tier"]
    return res


def _referrer_tiers(hh, res, previous_tiers) -> dict[str, str | None]:
    """The final tier of each household's referrer; one no longer in the book: its last tier."""
    out = {}
    for hid, h in hh.items():
        ref = h["referrer"]
        if ref is None:
            out[hid] = None
        elif ref in res:
            out[hid] = res[ref]["final"]
        else:
            out[hid] = previous_tiers.get(ref)
    return out


def _band_floor(rules: Rules, target: str) -> Fraction:
    top = sum(Fraction(str(rules.targets[t][1])) for t in TIERS[:TIERS.index(target) + 1])
    return max(Fraction(0), 100 * (1 - top))


def _potential(h, r, score, rules, referrer_tier, floors) -> tuple[str | None, set[str]]:
    """Section 6: the highest of A and B above the household's tier for which it shows potential."""
    cfg, tier = rules.potential, r["tier"]
    if tier not in ONE_UP or "no_potential" in h["tags"]:
        return None, set()
    margin = Decimal(str(cfg.near_miss.margin))
    for target in ("A", "B"):
        if TIERS.index(target) >= TIERS.index(tier):
            continue
        signals = set()
        if cfg.advisor_tag and "has_potential" in h["tags"] and ONE_UP[tier] == target:
            signals.add("advisor_tag")
        if cfg.near_miss.enabled:
            near = _met(h, rules, target, referrer_tier, margin)
            if sum(near.values()) >= rules.tiers[target].needed:
                signals.add("near_miss")
        if cfg.occupation_steps.enabled and any(
                category in h["occupations"]
                for category, step in cfg.occupation_steps.steps.items() if step == target):
            signals.add("occupation_step")
        if cfg.value_band and score["percentile"] is not None \
                and score["percentile"] >= floors[target]:
            signals.add("value_band")
        if cfg.a_cap and target == "A" and r["capped"]:
            signals.add("a_cap")
        if signals:
            return target, signals
    return None, set()


def reference_segments(prepared: Prepared, rules: Rules, as_of: dt.date,
                       previous_tiers: dict[str, str] | None = None) -> dict[str, dict]:
    """Every segmented household's result, worked out row by row from the written rules."""
    previous_tiers = previous_tiers or {}
    hh = _households(prepared, rules, as_of)
    overrides = {o["household_id"]: o for o in _records(prepared.overrides)
                 if o["household_id"] in hh}
    issues = prepared.issues
    expired = set(issues.loc[issues["check"] == "override_not_expired", "household_id"])
    scores = _scores(hh, rules)

    referrer_tiers, cache = {hid: None for hid in hh}, {}
    for _ in range(50):  # a referral can change a referrer's tier only through a chain
        res = _assign(hh, rules, referrer_tiers, scores, overrides, cache)
        again = _referrer_tiers(hh, res, previous_tiers)
        if again == referrer_tiers:
            break
        referrer_tiers = again
    else:
        raise AssertionError("referral tiers never settle")

    floors = {target: _band_floor(rules, target) for target in ("A", "B")}
    out = {}
    for hid, h in hh.items():
        r = res[hid]
        potential_tier, signals = _potential(h, r, scores[hid], rules, referrer_tiers[hid],
                                             floors)
        computed = r["tier"] + ("+" if potential_tier else "")
        flags = {name for name in ("no_criteria_met", "conflicting_signals") if r[name]}
        flags |= {"over_a_cap"} if r["capped"] else set()
        flags |= {"partial_figures"} if any(h["partial"].values()) else set()
        flags |= {"expired_override"} if hid in expired else set()
        segment = computed
        if hid in overrides:
            flags.add("override")
            segment, signals = overrides[hid]["tier"], set()
            # An advisor's "+" points one tier up, as the has_potential tag does.
            potential_tier = ONE_UP.get(segment[0]) if segment.endswith("+") else None
        row = {"tier": segment[0], "segment": segment, "computed_segment": computed,
               "computed_tier": r["tier"], "potential_tier": potential_tier,
               "potential_signals": signals, "flags": flags,
               "value_score": scores[hid]["score"], "value_percentile": scores[hid]["percentile"],
               "value_rank": scores[hid]["rank"], "met": r["met"]}
        for t in TIERS:
            row[f"criteria_met_{t.lower()}"] = r["count"][t]
        for figure, name in OUTPUT_NAMES.items():
            row[name] = h["figures"][figure]
        out[hid] = row
    return out
