"""Turn worked examples written as in ../shared/spec/cases.yaml into CRM rows."""

import datetime as dt
from pathlib import Path

import yaml

# The firm's worked examples live in ../shared/spec beside the repository; a clone without it
# uses the copy in tests/data (kept identical by test_cases_copy_is_current when both exist).
SHARED = Path(__file__).resolve().parents[2] / "shared" / "spec" / "cases.yaml"
COPY = Path(__file__).resolve().parent / "data" / "cases.yaml"


def load_cases(path: Path | None = None) -> dict:
    path = path or (SHARED if SHARED.exists() else COPY)
    return yaml.safe_load(path.read_text("utf-8"))


def crm_rows(households: list[dict]) -> dict[str, list[dict]]:
    """CRM rows for a list of example households (keys as in cases.yaml)."""
    rows = {name: [] for name in ("households", "members", "holdings", "activities",
                                  "household_tags", "segment_overrides")}
    for h in households:
        hid = str(h["id"])
        rows["households"].append({
            "household_id": hid,
            "household_type": h.get("type", "individual"),
            "status": h.get("status", "active"),
            "relationship": h.get("relationship"),
            "referred_by_household_id": h.get("referred_by"),
            "net_worth": h.get("net_worth"),
        })
        members = list(h.get("members") or [])
        # The examples leave silent members out; the CRM still holds them.
        couple = str(h.get("type", "")).casefold() == "couple"
        members += [{}] * ((2 if couple else 1) - len(members))
        for i, m in enumerate(members):
            rows["members"].append({
                "member_id": f"{hid}-M{i + 1}",
                "household_id": hid,
                "occupation": m.get("occupation"),
                "business_since": m.get("business_since"),
                "annual_income": m.get("income"),
                "annual_savings": m.get("savings"),
            })
        for i, p in enumerate(h.get("holdings") or []):
            rows["holdings"].append({
                "holding_id": f"{hid}-P{i + 1}",
                "household_id": hid,
                "kind": p["kind"],
                "status": p.get("status", "open"),
                "market_value": p.get("value"),
                "annual_premium": p.get("premium"),
            })
        for i, a in enumerate(h.get("activities") or []):
            at = a["at"]
            rows["activities"].append({
                "activity_id": f"{hid}-A{i + 1}",
                "household_id": hid,
                "kind": a["kind"],
                "occurred_at": at.isoformat() if isinstance(at, dt.datetime) else str(at),
                "outcome": a["outcome"],
            })
        for tag in h.get("tags") or []:
            rows["household_tags"].append({"household_id": hid, "tag": tag})
        if h.get("override"):
            o = h["override"]
            rows["segment_overrides"].append({
                "household_id": hid, "tier": o["tier"], "reason": o["reason"],
                "set_by": "advisor", "expires_on": o.get("expires_on"),
            })
    return rows
