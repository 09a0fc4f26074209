"""Each figure characteristic at, just above and just below its line, for both household types.

Amounts are spread over several accounts or members so that their sum lands on the line to the
cent, and the whole book goes through the weekly job.
"""

from decimal import Decimal

import pytest

from segmentation.rules import FIGURES, load_rules

RULES = load_rules()
OFFSETS = {"below": Decimal("-0.01"), "on": Decimal("0"), "above": Decimal("0.01")}


def _split(total: Decimal, parts: int) -> list[Decimal]:
    """`total` as `parts` uneven amounts with cents that add up to it exactly."""
    shares = [(total * Decimal(k) / Decimal(parts * (parts + 1) // 2)).quantize(Decimal("0.01"))
              for k in range(1, parts + 1)]
    shares[-1] += total - sum(shares)
    return shares


def _household(hid: str, htype: str, figure: str, amount: Decimal) -> dict:
    n = 2 if htype == "couple" else 1
    h = {"id": hid, "type": htype, "members": [{} for _ in range(n)], "holdings": []}
    if figure == "aum":
        h["holdings"] = [{"kind": "investment", "value": str(v)} for v in _split(amount, 5)]
    elif figure == "premiums":
        h["holdings"] = [{"kind": "insurance", "premium": str(v)} for v in _split(amount, 3)]
    elif figure == "net_worth":
        h["net_worth"] = str(amount)
    else:
        key = {"income": "income", "savings": "savings"}[figure]
        for member, value in zip(h["members"], _split(amount, n), strict=True):
            member[key] = str(value)
    return h


def _book():
    households, expected = [], {}
    for tier, spec in RULES.tiers.items():
        lines = spec.more_than or spec.less_than
        suffix = "_gt" if spec.more_than else "_lt"
        for figure in FIGURES:
            for htype in ("couple", "individual"):
                line = getattr(lines[figure], htype)
                for name, offset in OFFSETS.items():
                    hid = f"{tier}-{figure}-{htype}-{name}"
                    households.append(_household(hid, htype, figure, line + offset))
                    met = offset > 0 if suffix == "_gt" else offset < 0
                    expected[hid] = (tier, figure + suffix, met)
    return households, expected


HOUSEHOLDS, EXPECTED = _book()


@pytest.fixture(scope="module")
def criteria(tmp_path_factory):
    from casebook import crm_rows
    from conftest import Week

    mp = pytest.MonkeyPatch()
    week = Week(tmp_path_factory.mktemp("lines"), mp)
    week.crm(crm_rows(HOUSEHOLDS), amounts_as_text=True)
    week.run("2026-11-30")
    frame = week.table("client_segment_criteria")
    mp.undo()
    return frame


@pytest.mark.parametrize("hid", sorted(EXPECTED))
def test_line(criteria, hid):
    tier, code, met = EXPECTED[hid]
    rows = criteria[(criteria["household_id"] == hid) & (criteria["tier"] == tier)
                    & (criteria["characteristic"] == code)]
    assert bool(rows["met"].astype(bool).any()) is met


def test_split_adds_up_exactly():
    parts = _split(Decimal("250000.00"), 5)
    assert sum(parts) == Decimal("250000.00") and len(set(parts)) == 5
