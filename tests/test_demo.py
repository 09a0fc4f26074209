"""The demo CRM: reproducible, shaped like a real book, dirty the ways the contract lists."""

import datetime as dt
import re
import unicodedata

import pandas as pd
import pytest
import sqlalchemy as sa

from segmentation.book import profile_book, segment_book
from segmentation.crm import RELATIONS, CrmExtract, check_contract, crm_metadata, read_crm
from segmentation.demo import build_demo_crm, generate_demo_crm
from segmentation.rules import load_rules
from segmentation.text import normalize_series

AS_OF = dt.date(2026, 11, 30)


@pytest.fixture(scope="module")
def book() -> dict[str, pd.DataFrame]:
    return generate_demo_crm(5000, as_of=AS_OF)


def _codes(values: pd.Series, kind: str) -> pd.Series:
    return normalize_series(values).map(load_rules().vocabulary_map(kind))


def _amounts(book) -> pd.Series:
    """Every amount of the book (a dict of frames or a CrmExtract), known ones only."""
    def get(name):
        return book[name] if isinstance(book, dict) else getattr(book, name)

    return pd.concat([get("households")["net_worth"], get("members")["annual_income"],
                      get("members")["annual_savings"], get("holdings")["market_value"],
                      get("holdings")["annual_premium"]], ignore_index=True).dropna()


def _formatted(amounts: pd.Series) -> pd.Series:
    return amounts[amounts.map(lambda v: isinstance(v, str) and bool(re.search(r"[ ,$]", v)))]


def test_same_seed_gives_the_same_book():
    first, again = (generate_demo_crm(800, seed=7, as_of=AS_OF) for _ in range(2))
    for name in RELATIONS:
        pd.testing.assert_frame_equal(first[name], again[name])
    other = generate_demo_crm(800, seed=8, as_of=AS_OF)
    assert not first["members"].equals(other["members"])


def test_relations_have_the_contract_columns(book):
    assert list(book) == list(RELATIONS)
    for name, table in crm_metadata().tables.items():
        assert list(book[name].columns) == list(table.columns.keys()), name


def test_row_counts_are_in_proportion(book):
    households = book["households"]
    assert 5000 <= len(households) <= 5020  # a few duplicated rows
    per_household = {name: len(book[name]) / 5000 for name in RELATIONS}
    assert 1.4 <= per_household["members"] <= 1.55
    assert 2.2 <= per_household["holdings"] <= 2.8
    assert 5.5 <= per_household["activities"] <= 6.5
    assert 0.8 <= per_household["household_tags"] <= 1.2
    assert 0.003 <= per_household["segment_overrides"] <= 0.01
    couples = (_codes(households["household_type"], "household_type") == "couple").mean()
    assert 0.42 <= couples <= 0.48
    status = households["status"].value_counts(normalize=True)
    assert status["active"] > 0.96 and 0.005 < status["inactive"] < 0.02
    assert 0.005 < status["prospect"] < 0.03


def test_values_look_like_a_quebec_book(book):
    households, members, activities = book["households"], book["members"], book["activities"]
    assert households["household_id"].str.fullmatch(r"H-\d{6}").all()
    assert members["member_id"].str.fullmatch(r"M-\d{7}").all()
    assert members["email"].dropna().str.fullmatch(r"[a-z.-]+\d*@example\.(org|com|net)").all()
    assert {"Infirmière", "Dentiste", "Retraité"} <= set(members["occupation"].dropna())
    assert households["relationship"].isin(["famille", "ami proche", "Très peu"]).any()
    mature = members["business_since"] < pd.Timestamp(AS_OF) - pd.DateOffset(years=5)
    assert mature.any() and not mature.all()
    stamps = activities["occurred_at"]
    assert str(stamps.dt.tz) == "America/Montreal"
    assert stamps.min() >= pd.Timestamp(AS_OF, tz="America/Montreal") - pd.DateOffset(months=13)
    assert stamps.max() < pd.Timestamp(AS_OF, tz="America/Montreal")
    assert set(activities["outcome"]) == {"attended", "no_show", "cancelled", "answered",
                                          "unanswered"}
    tags = _codes(book["household_tags"]["tag"], "tag")
    assert tags.notna().mean() > 0.7 and tags.isna().any()  # mostly mapped, some not
    expiry = book["segment_overrides"]["expires_on"]
    assert expiry.isna().any() and (expiry < pd.Timestamp(AS_OF)).any()


def test_book_is_dirty_the_ways_the_contract_lists(book):
    households, members, holdings = book["households"], book["members"], book["holdings"]
    amounts = _amounts(book)
    written = amounts.map(lambda v: isinstance(v, str))
    text = amounts[written]
    assert text.str.contains("\u00a0").any() and text.str.contains("\u202f").any()
    assert text.str.fullmatch(r"\d{1,3}(,\d{3})+\.\d\d").any()
    assert text.str.fullmatch(r"\$\d+\.\d\d").any()
    assert (text == "").any() and text.isin(["n/a", "12,34,5", "N/D", "voir dossier"]).any()
    numbers = amounts[~written].astype(float)
    assert (numbers < 0).any() and (numbers > 1e9).any()
    occupations = members["occupation"].dropna()
    assert (~occupations.map(lambda t: unicodedata.is_normalized("NFC", t))).any()
    assert households["household_id"].duplicated().any()
    assert holdings["holding_id"].duplicated().any()
    known = set(households["household_id"])
    assert not members["household_id"].isin(known).all()
    assert not holdings["household_id"].isin(known).all()
    assert not book["segment_overrides"]["household_id"].isin(known).all()
    referrer = households["referred_by_household_id"]
    assert (referrer == households["household_id"]).any()
    assert (referrer.notna() & ~referrer.isin(known)).any()
    size = members.groupby("household_id").size()
    kind = _codes(households["household_type"], "household_type")
    expected = kind.map({"individual": 1, "couple": 2}).set_axis(households["household_id"])
    counted = size.reindex(expected.index, fill_value=0)
    assert ((expected == 2) & (counted == 1)).any() and ((expected == 1) & (counted == 2)).any()


def test_default_book_lands_in_the_target_bands(book):
    rules = load_rules()
    profiled = profile_book(CrmExtract(**book), AS_OF, rules)
    assert profiled.prepared.left_out_share < 0.02
    result = segment_book(profiled, AS_OF, rules)
    bands = result.distribution.set_index("tier")
    assert bands["within_target"].all(), bands[["share", "target_min", "target_max"]]


def test_sqlite_demo_crm_meets_the_contract(tmp_path):
    url = f"sqlite:///{tmp_path / 'var' / 'crm.sqlite'}"
    counts = build_demo_crm(url, households=300, seed=3, as_of=AS_OF)
    again = build_demo_crm(url, households=300, seed=3, as_of=AS_OF)  # replaces the file
    frames = generate_demo_crm(300, seed=3, as_of=AS_OF)
    assert counts == again == {name: len(frames[name]) for name in RELATIONS}
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        check_contract(conn)
    extract = read_crm(engine)
    assert extract.row_counts() == counts
    # Formatted amounts reach SQLite as written, beside plain numbers.
    amounts = _amounts(extract)
    assert len(_formatted(amounts)) and amounts.map(lambda v: isinstance(v, float)).any()
    assert extract.activities["occurred_at"].str.match(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$").all()


@pytest.mark.parametrize("amounts_as_text", [False, True])
def test_postgres_demo_crm_is_copied(postgres_database, amounts_as_text):
    url = postgres_database("demo")
    counts = build_demo_crm(url, households=400, seed=5, as_of=AS_OF,
                            amounts_as_text=amounts_as_text)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        check_contract(conn)
    extract = read_crm(engine)
    engine.dispose()
    assert extract.row_counts() == counts
    # Text columns keep an export's formatting; NUMERIC ones hold the number it spells.
    assert bool(len(_formatted(_amounts(extract)))) == amounts_as_text


def test_postgres_read_sees_one_snapshot(postgres_database, monkeypatch):
    """Rows committed while the CRM is being read are not half seen: both reading connections
    adopt the snapshot taken before either starts, and neither can write."""
    from segmentation import crm

    url = postgres_database("snapshot")
    counts = build_demo_crm(url, households=50, seed=7, as_of=AS_OF)
    engine = sa.create_engine(url)
    real_select = crm._select
    late = []

    def select_then_commit_more(*args):
        # Called after the snapshot is exported, before the two readers start.
        if late:
            return real_select(*args)
        late.append(True)
        with engine.begin() as other:
            other.execute(sa.text(
                "INSERT INTO households (household_id, household_type, status) "
                "VALUES ('LATE-1', 'individual', 'active')"))
            other.execute(sa.text(
                "INSERT INTO activities (activity_id, household_id, kind, occurred_at, outcome) "
                "VALUES ('LATE-A', 'LATE-1', 'call', now(), 'answered')"))
        return real_select(*args)

    monkeypatch.setattr(crm, "_select", select_then_commit_more)
    extract = read_crm(engine)
    assert extract.row_counts() == counts
    assert str(extract.activities["occurred_at"].dtype) == "datetime64[us, UTC]"
    monkeypatch.setattr(crm, "_select", real_select)
    assert read_crm(engine).row_counts()["households"] == counts["households"] + 1
    uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with engine.connect() as holder, holder.begin():
        holder.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        snapshot = holder.execute(sa.text("SELECT pg_export_snapshot()")).scalar()
        with pytest.raises(Exception, match="read-only transaction"):
            crm._read_lane(uri, snapshot, {"t": "CREATE TABLE nope (x int)"})
    engine.dispose()
