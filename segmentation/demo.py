"""A reproducible fake CRM of a Quebec advisory firm's book, dirt included, for demos and tests.

Everything is drawn column by column with numpy from one seed: a million households take seconds.
The figures are calibrated so that the default rules put the book roughly inside the target bands.
"""

import datetime as dt
import logging
import unicodedata
from pathlib import Path
from statistics import NormalDist
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa

from segmentation.crm import RELATIONS, crm_metadata
from segmentation.crm_load import AMOUNT_COLUMNS, write_crm

__all__ = ["build_demo_crm", "generate_demo_crm", "write_crm"]
from segmentation.db import create_engine_for

log = logging.getLogger(__name__)

TIMEZONE = "America/Montreal"
DEFAULT_SEED = 20261130
DEFAULT_HOUSEHOLDS = 5000

_FEMALE = (
    "Marie", "Julie", "Isabelle", "Nathalie", "Sophie", "Catherine", "Geneviève", "Valérie",
    "Mélanie", "Stéphanie", "Caroline", "Chantal", "Josée", "Manon", "Sylvie", "Louise", "Francine",
    "Émilie", "Audrey", "Camille", "Léa", "Chloé", "Maude", "Annie", "Karine", "Véronique",
    "Marie-Ève", "Marie-Claude", "Hélène", "Lucie",
)
_MALE = (
    "Jean", "Pierre", "Michel", "Luc", "Marc", "François", "Éric", "Martin", "Stéphane", "Sylvain",
    "Daniel", "Alain", "Mathieu", "Maxime", "Simon", "Guillaume", "Sébastien", "Patrick",
    "Nicolas", "Olivier", "Alexandre", "Philippe", "Jean-François", "Benoît", "Gilles", "Réjean",
    "Gaétan", "Yves", "Samuel", "Félix",
)
_LAST = (
    "Tremblay", "Gagnon", "Roy", "Côté", "Bouchard", "Gauthier", "Morin", "Lavoie", "Fortin",
    "Gagné", "Ouellet", "Pelletier", "Bélanger", "Lévesque", "Bergeron", "Leblanc", "Paquette",
    "Girard", "Simard", "Boucher", "Caron", "Beaulieu", "Cloutier", "Dubé", "Poirier", "Fournier",
    "Lapointe", "Leclerc", "Lefebvre", "Poulin", "Thibault", "St-Pierre", "Nadeau", "Landry",
    "Michaud", "Hébert", "Desjardins", "Couture", "Lachance", "Proulx", "D'Amours", "Nguyen",
    "Haddad", "Joseph",
)
_DOMAINS = ("example.org", "example.com", "example.net")

# Occupations of working members: masculine, feminine, English, median income, relative weight.
# Most spellings are in the rules' taxonomy; the abbreviations and a few English ones are not.
_WORK = (
    ("Médecin", "Médecin", "Physician", 250_000, 0.35),
    ("Omnipraticien", "Omnipraticienne", "General practitioner", 230_000, 0.15),
    ("Pharmacien", "Pharmacienne", "Pharmacist", 120_000, 0.35),
    ("Vétérinaire", "Vétérinaire", "Veterinarian", 100_000, 0.2),
    ("Dentiste", "Dentiste", "Dentist", 200_000, 0.25),
    ("Psychologue", "Psychologue", "Psychologist", 90_000, 0.3),
    ("Entrepreneur", "Entrepreneure", "Business owner", 110_000, 1.2),
    ("Propriétaire d'entreprise", "Propriétaire d'entreprise", "Entrepreneur", 100_000, 0.5),
    ("Médecin résident", "Médecin résidente", "Medical resident", 65_000, 0.2),
    ("Professeur d'université", "Professeure d'université", "University professor", 125_000, 0.25),
    ("Infirmier", "Infirmière", "Nurse", 78_000, 4.0),
    ("Infirmier auxiliaire", "Infirmière auxiliaire", "Nursing assistant", 52_000, 1.5),
    ("Ingénieur", "Ingénieure", "Engineer", 95_000, 3.5),
    ("Comptable", "Comptable", "Accountant", 80_000, 3.0),
    ("Avocat", "Avocate", "Lawyer", 115_000, 1.5),
    ("Notaire", "Notaire", "Notary", 95_000, 0.5),
    ("Enseignant au secondaire", "Enseignante au secondaire", "High school teacher", 75_000, 3.0),
    ("Enseignant au primaire", "Enseignante au primaire", "Elementary school teacher", 70_000, 3.0),
    ("Professeur de cégep", "Professeure de cégep", "College teacher", 85_000, 1.0),
    ("Chargé de cours", "Chargée de cours", "Lecturer", 60_000, 0.5),
    ("Gestionnaire", "Gestionnaire", "Manager", 95_000, 3.0),
    ("Directeur des ventes", "Directrice des ventes", "Sales manager", 110_000, 1.0),
    ("Préposé aux bénéficiaires", "Préposée aux bénéficiaires", "Health care aide", 45_000, 3.0),
    ("Inhalothérapeute", "Inhalothérapeute", "Respiratory therapist", 70_000, 0.5),
    ("Vendeur", "Vendeuse", "Salesperson", 45_000, 4.0),
    ("Électricien", "Électricienne", "Electrician", 72_000, 2.0),
    ("Technicien informatique", "Technicienne informatique", "IT technician", 65_000, 3.0),
    ("Agent administratif", "Agente administrative", "Administrative assistant", 48_000, 4.0),
    ("Fonctionnaire", "Fonctionnaire", "Civil servant", 72_000, 3.0),
    ("Camionneur", "Camionneuse", "Truck driver", 62_000, 2.0),
    ("Policier", "Policière", "Police officer", 90_000, 1.0),
    ("Coiffeur", "Coiffeuse", "Hairdresser", 35_000, 1.5),
    ("Commis", "Commis", "Clerk", 40_000, 2.0),
    ("Inf. aux.", "Inf. aux.", "LPN", 52_000, 0.2),
    ("Ing.", "Ing.", "Eng.", 95_000, 0.2),
    ("Prof. au cégep", "Prof. au cégep", "Prof.", 85_000, 0.1),
)
_RETIRED = ("Retraité", "Retraitée", "Retired", 38_000, 0.0)
_STUDENT = ("Étudiant", "Étudiante", "Student", 12_000, 0.0)
_MED_STUDENT = ("Étudiant en médecine", "Étudiante en médecine", "Medical student", 15_000, 0.0)
_OCCUPATIONS = (*_WORK, _RETIRED, _STUDENT, _MED_STUDENT)
_ENTREPRENEURS = [i for i, o in enumerate(_OCCUPATIONS) if "ntrepr" in o[0] + o[2]]

# Spellings a CRM really uses for the contract's codes, with their weights.
_TYPES = {
    "individual": {"individual": 96, "INDIVIDUEL": 2, "Individuelle": 1, "Personne seule": 1},
    "couple": {"couple": 96, "Couple": 3, "COUPLE": 1},
}
_RELATIONSHIPS = {
    "family": {"family": 80, "famille": 12, "Famille": 8},
    "close_friend": {"close_friend": 80, "ami proche": 10, "Amie proche": 5, "Ami": 5},
    "referral": {"referral": 90, "Référence": 10},
    "limited": {"limited": 80, "Très peu": 15, "peu": 5},
    "none": {"none": 85, "Aucune": 15},
}
_TAGS = {
    "diligent": {"diligent": 60, "Très assidu": 25, "Très assidue": 10, "À son affaire": 5},
    "collaborative": {"collaborative": 60, "Très bonne collaboration": 30, "Collaboratif": 10},
    "courteous": {"courteous": 50, "Courtois": 20, "Courtoise": 10, "Gentil": 5,
                  "Sympathique": 10, "Apprécie le service": 5},
    "unfriendly": {"unfriendly": 60, "Pas sympathique": 40},
    "disagreeable": {"disagreeable": 60, "Désagréable": 40},
    "disrespectful": {"disrespectful": 60, "Irrespectueux": 40},
    "no_show": {"no_show": 70, "Ne se présente pas": 20, "No-show": 10},
    "unresponsive": {"unresponsive": 60, "Ne répond pas": 30, "Injoignable": 10},
    "no_potential": {"no_potential": 60, "Aucun potentiel": 40},
    "has_potential": {"has_potential": 60, "Fort potentiel": 25, "Potentiel": 15},
    "mature_entrepreneur": {"mature_entrepreneur": 60, "Entrepreneur établi": 40},
    "(unmapped)": {"VIP golf": 30, "Aime le hockey": 20, "Préfère le courriel": 20,
                   "Anglophone": 15, "Hiverne en Floride": 15},
}
# Chance of each tag for a household of good, ordinary and poor conduct (columns of _TAGS).
_TAG_CHANCE = np.array([
    [0.10, 0.01, 0.0],    # diligent
    [0.08, 0.01, 0.0],    # collaborative
    [0.60, 0.42, 0.02],   # courteous
    [0.0, 0.02, 0.20],    # unfriendly
    [0.0, 0.01, 0.20],    # disagreeable
    [0.0, 0.0, 0.08],     # disrespectful
    [0.0, 0.01, 0.15],    # no_show
    [0.0, 0.01, 0.20],    # unresponsive
    [0.0, 0.04, 0.30],    # no_potential
    [0.20, 0.13, 0.0],    # has_potential
    [0.20, 0.20, 0.05],   # mature_entrepreneur, only for households with an entrepreneur
    [0.08, 0.08, 0.05],   # (unmapped)
]).T
_CONDUCT = (0.12, 0.78, 0.10)  # good, ordinary, poor
# Family, close friend, referral, limited, none, unknown.
_RELATIONSHIP_SHARE = (1.0, 1.3, 24.0, 13.0, 5.0, 55.7)

# Calibration of the figures, against the default rules' thresholds and target bands. A household's
# capacity is its wealth factor (standard normal) plus its income relative to its type's, minus a
# drop for the small clients, whose few products are small. Each figure is log-normal: median for an
# individual and for a couple at capacity 0, loading on capacity, own spread.
_SHAPE = {"small_share": 0.11, "small_drop": 4.0, "income_wealth": 0.15, "income_spread": 0.2,
          "capacity_income": 1.2, "investments": 0.4, "policies": (1.1, 1.6),
          "conduct_wealth": 0.5}
_FIGURES = {
    "net_worth": (420_000, 840_000, 0.33, 0.2),
    "aum": (130_000, 195_000, 0.33, 0.2),
    "premium": (900, 900, 0.35, 0.45),  # per policy
    "savings": (8500, 8500, 0.35, 0.25),  # per working member
}
# Forced tiers with their weight and the reasons advisors give for them.
_OVERRIDES = {
    "A": (25, ("Famille du conseiller", "Client de longue date, relation privilégiée")),
    "B": (20, ("Grand potentiel de références", "Entente particulière avec la direction")),
    "B+": (10, ("Héritage attendu", "Relève d'entreprise familiale")),
    "C": (15, ("Succession en cours", "Actifs transférés chez un concurrent")),
    "C+": (10, ("Jeune professionnel à suivre",)),
    "D": (10, ("Transfert prévu vers un autre cabinet", "Ne souhaite plus de suivi")),
    "E": (10, ("Comportement inacceptable envers l'adjointe", "Plaintes répétées")),
}
_UNPARSEABLE = ("n/a", "12,34,5", "N/D", "voir dossier", "1.234.5")


def _today() -> dt.date:
    return dt.datetime.now(ZoneInfo(TIMEZONE)).date()


def _ids(prefix: str, numbers, width: int) -> pd.Series:
    return prefix + pd.Series(np.asarray(numbers)).astype("str").str.zfill(width)


def _pick(table, codes) -> pd.Series:
    """Strings of a small table by code; code -1 gives a missing value."""
    return pd.Series(pd.array(list(table), dtype="str").take(np.asarray(codes), allow_fill=True))


def _draw(rng, weights, size) -> np.ndarray:
    p = np.asarray(list(weights), dtype=float)
    return rng.choice(len(p), size=size, p=p / p.sum())


def _spell(rng, spellings: dict[str, dict[str, int]], codes) -> pd.Series:
    """One spelling per code (an index into `spellings`), drawn by the spellings' weights."""
    table, picked = [], np.full(len(codes), -1)
    for k, variants in enumerate(spellings.values()):
        mask = codes == k
        picked[mask] = len(table) + _draw(rng, variants.values(), int(mask.sum()))
        table += list(variants)
    return _pick(table, picked)


def _dates(as_of: dt.date, days_before, missing=None) -> pd.Series:
    days = np.round(np.asarray(days_before, dtype=float)).astype(np.int64)
    values = (np.datetime64(as_of, "D") - days).astype("datetime64[s]")
    if missing is not None:
        values[missing] = np.datetime64("NaT")
    return pd.Series(values)


def _money(values, step: float, missing) -> np.ndarray:
    """Amounts rounded to `step` dollars, as an object array with None for unknown."""
    out = (np.round(np.asarray(values, dtype=float) / step) * step).round(2).astype(object)
    out[missing] = None
    return out


def _ascii(name: str) -> str:
    bare = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return bare.lower().replace("'", "").replace(" ", "")


def _occupation_table() -> list[str]:
    """Every spelling of every occupation: (occupation, form, case) flattened, form 2 = English."""
    table = []
    for entry in _OCCUPATIONS:
        for text in entry[:3]:
            table += [text, text.upper(), text.lower(), unicodedata.normalize("NFD", text)]
    return table


def generate_demo_crm(households: int = DEFAULT_HOUSEHOLDS, seed: int = DEFAULT_SEED,
                      as_of: dt.date | None = None) -> dict[str, pd.DataFrame]:
    """Draw a fake book of `households` households, one DataFrame per contract relation.

    `as_of` (default: today in Montreal) anchors the dates: activity covers the 13 months before
    it, and some overrides expire before it. The same arguments always give the same frames.
    """
    if households < 1:
        raise ValueError("a demo book needs at least one household")
    as_of = as_of or _today()
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    book = _households(rngs[0], households, as_of)
    members = _members(rngs[1], book, as_of)  # also completes the households' net worth
    frames = {
        "households": book["frame"],
        "members": members,
        "holdings": _holdings(rngs[2], book),
        "activities": _activities(rngs[3], book, as_of),
        "household_tags": _tags(rngs[4], book),
        "segment_overrides": _overrides(rngs[5], book, as_of),
    }
    _add_dirt(rngs[6], frames, book)
    columns = {name: t.columns.keys() for name, t in crm_metadata().tables.items()}
    return {name: frames[name][columns[name]].reset_index(drop=True) for name in RELATIONS}


def _households(rng, n: int, as_of: dt.date) -> dict:
    couple = rng.random(n) < 0.45
    status = _draw(rng, (97.3, 1.2, 1.5), n)  # active, inactive, prospect
    wealth = rng.standard_normal(n)
    # Conduct leans on wealth a little: the firm's best clients tend to be its easiest ones.
    leaning = (_SHAPE["conduct_wealth"] * wealth + rng.standard_normal(n)) / np.hypot(
        _SHAPE["conduct_wealth"], 1)
    good, _, poor = _CONDUCT
    conduct = np.where(leaning > NormalDist().inv_cdf(1 - good), 0,
                       np.where(leaning < NormalDist().inv_cdf(poor), 2, 1))
    small = rng.random(n) < _SHAPE["small_share"]
    age = np.clip(rng.normal(53, 14, n), 21, 92)
    relationship = _draw(rng, _RELATIONSHIP_SHARE, n)
    relationship[(conduct == 2) & (rng.random(n) < 0.35)] = 4  # poor conduct, no relationship
    ids = _ids("H-", np.arange(1, n + 1), max(6, len(str(2 * n))))
    # Rich households refer more: a referrer is drawn in proportion to its wealth.
    weight = np.exp(1.2 * wealth) * np.where(status == 0, 1.0, 1e-9)
    referrer = rng.choice(n, size=n, p=weight / weight.sum())
    referrer = np.where(referrer == np.arange(n), (referrer + 1) % n, referrer)
    referred = (relationship == 2) & (rng.random(n) < 0.92) & (n > 1)
    advisors = _ids("CONS-", rng.integers(1, max(2, n // 450) + 1, n), 2)
    since = np.where(status == 2, 0, rng.uniform(60, 30 * 365.25, n))
    frame = pd.DataFrame({
        "household_id": ids,
        "household_type": _spell(rng, _TYPES, couple.astype(int)),
        "status": _pick(("active", "inactive", "prospect"), status),
        "advisor_id": advisors.where(rng.random(n) > 0.005),
        "relationship": _spell(rng, _RELATIONSHIPS, relationship).where(relationship < 5),
        "referred_by_household_id": ids.take(referrer).reset_index(drop=True).where(referred),
        "net_worth": None,  # drawn with the members' income, below
        "client_since": _dates(as_of, since, missing=status == 2),
    })
    return {"frame": frame, "n": n, "couple": couple, "status": status, "conduct": conduct,
            "wealth": wealth, "small": small, "age": age, "ids": ids}


def _members(rng, book: dict, as_of: dt.date) -> pd.DataFrame:
    n, couple, wealth = book["n"], book["couple"], book["wealth"]
    hh = np.repeat(np.arange(n), 1 + couple)
    m = len(hh)
    partner = np.arange(m) > 0
    partner[1:] &= hh[1:] == hh[:-1]
    head_female = rng.random(n) < 0.5
    female = np.where(partner, head_female[hh] ^ (rng.random(m) > 0.04), head_female[hh])
    age = np.maximum(book["age"][hh] + np.where(partner, rng.normal(-1.5, 4, m), 0), 19)
    first = np.where(female, rng.integers(0, len(_FEMALE), m),
                     len(_FEMALE) + rng.integers(0, len(_MALE), m))
    last = rng.integers(0, len(_LAST), m)
    keeps_name = partner & (rng.random(m) < 0.25)  # the partner took the head's name
    last[keeps_name] = last[np.flatnonzero(keeps_name) - 1]
    names = (*_FEMALE, *_MALE)
    suffix = pd.Series(rng.integers(1, 100, m)).astype("str").where(rng.random(m) < 0.5, "")
    email = (_pick([_ascii(x) for x in names], first) + "."
             + _pick([_ascii(x) for x in _LAST], last) + suffix + "@"
             + _pick(_DOMAINS, _draw(rng, (6, 3, 1), m)))

    # Occupation: retired or student by age, else a working one; income follows the occupation.
    u = rng.random(m)
    p_retired = np.select([age >= 66, age >= 60], [0.85, 0.35], 0.02)
    p_student = np.select([age < 26, age < 30], [0.45, 0.10], 0.0)
    occupation = _draw(rng, (w[4] for w in _WORK), m)
    student = (u >= p_retired) & (u < p_retired + p_student)
    occupation[student] = len(_WORK) + np.where(rng.random(int(student.sum())) < 0.1, 2, 1)
    occupation[u < p_retired] = len(_WORK)
    form = np.where(rng.random(m) < 0.1, 2, female.astype(int))
    case = _draw(rng, (84, 7, 4, 5), m)  # as written, UPPER, lower, decomposed Unicode
    text = _pick(_occupation_table(), (occupation * 3 + form) * 4 + case)
    entrepreneur = np.isin(occupation, _ENTREPRENEURS)
    years = rng.gamma(2.2, 3.5, m) + 0.3
    medians = np.array([o[3] for o in _OCCUPATIONS], dtype=float)
    income = medians[occupation] * np.exp(_SHAPE["income_spread"] * rng.standard_normal(m)
                                          + _SHAPE["income_wealth"] * wealth[hh])
    capacity = _capacity(rng, book, np.bincount(hh, weights=income, minlength=n))[hh]
    # Working, retired, student: a retiree saves less, a student hardly at all.
    stage = np.clip(occupation - len(_WORK) + 1, 0, 2)
    savings = np.choose(stage, (1.0, 0.6, 0.08)) * _lognormal(rng, "savings", couple[hh], capacity)
    no_income = rng.random(m) < 0.06
    no_savings = (rng.random(m) < 0.12) | (no_income & (rng.random(m) < 0.5))
    book.update(member_household=hh, entrepreneur=np.bincount(hh[entrepreneur], minlength=n) > 0)
    return pd.DataFrame({
        "member_id": _ids("M-", np.arange(1, m + 1), max(7, len(str(2 * m)))),
        "household_id": book["ids"].take(hh).reset_index(drop=True),
        "first_name": _pick(names, first),
        "last_name": _pick(_LAST, last),
        "birth_date": _dates(as_of, age * 365.25 + rng.integers(0, 365, m),
                             missing=rng.random(m) < 0.03),
        "email": email.where(rng.random(m) > 0.05),
        "occupation": text.where(rng.random(m) > 0.03),
        "business_since": _dates(as_of, years * 365.25,
                                 missing=~entrepreneur | (rng.random(m) < 0.08)),
        "annual_income": _money(income, np.where(rng.random(m) < 0.7, 1000, 100), no_income),
        "annual_savings": _money(savings, 100, no_savings),
    })


def _lognormal(rng, figure: str, couple: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    single, pair, loading, spread = _FIGURES[figure]
    noise = rng.standard_normal(len(capacity))
    return np.where(couple, pair, single) * np.exp(loading * capacity + spread * noise)


def _capacity(rng, book: dict, household_income: np.ndarray) -> np.ndarray:
    """Each household's capacity, kept in `book`; its declared net worth goes in the frame."""
    couple, status, age = book["couple"], book["status"], book["age"]
    relative = np.maximum(household_income, 5000) / np.where(couple, 130_000, 65_000)
    capacity = (book["wealth"] + _SHAPE["capacity_income"] * np.log(relative)
                - _SHAPE["small_drop"] * book["small"])
    book["capacity"] = capacity
    worth = _lognormal(rng, "net_worth", couple, capacity + 0.04 * (age - 53))
    unknown = rng.random(len(capacity)) < np.where(status == 2, 0.6, 0.12)
    book["frame"]["net_worth"] = _money(worth, 1000, unknown)
    return capacity


def _holdings(rng, book: dict) -> pd.DataFrame:
    n, couple, status, capacity = book["n"], book["couple"], book["status"], book["capacity"]
    investments = np.where(rng.random(n) < 0.12, 0, 1 + rng.poisson(_SHAPE["investments"], n))
    single, pair = _SHAPE["policies"]
    policies = rng.poisson(np.where(couple, pair, single))
    investments[status == 2] = 0
    policies[status == 2] = 0
    hh = np.repeat(np.arange(n), investments + policies)
    h = len(hh)
    first = np.cumsum(investments + policies) - (investments + policies)
    investment = (np.arange(h) - first[hh]) < investments[hh]
    aum = _lognormal(rng, "aum", couple, capacity + 0.03 * (book["age"] - 53))
    value = aum[hh] / np.maximum(investments[hh], 1) * np.exp(0.4 * rng.standard_normal(h) - 0.08)
    premium = _lognormal(rng, "premium", couple[hh], capacity[hh])
    closed = (rng.random(h) < 0.07) | (status[hh] == 1)
    value[closed & (rng.random(h) < 0.6)] = 0.0
    return pd.DataFrame({
        "holding_id": _ids("P-", np.arange(1, h + 1), max(7, len(str(2 * h)))),
        "household_id": book["ids"].take(hh).reset_index(drop=True),
        "kind": _pick(("insurance", "investment"), investment.astype(int)),
        "status": _pick(("open", "closed"), closed.astype(int)),
        "market_value": _money(value, 0.01, ~investment | (closed & (value > 0))),
        "annual_premium": _money(premium, 0.01, investment),
    })


def _activities(rng, book: dict, as_of: dt.date) -> pd.DataFrame:
    n, status, conduct = book["n"], book["status"], book["conduct"]
    rate = np.choose(status, (6.1, 1.0, 2.0)) * rng.gamma(4.0, 0.25, n)
    hh = np.repeat(np.arange(n), rng.poisson(rate))
    a = len(hh)
    kind = _draw(rng, (30, 35, 25, 10), a)  # meeting, email, call, text
    meeting = kind == 0
    no_show = rng.random(a) < np.choose(conduct[hh], (0.01, 0.04, 0.30))
    cancelled = rng.random(a) < 0.08
    unanswered = rng.random(a) < np.choose(conduct[hh], (0.05, 0.15, 0.55))
    outcome = np.where(meeting, np.where(no_show, 1, np.where(cancelled, 2, 0)),
                       np.where(unanswered, 4, 3))
    # Meetings fall on weekdays on the quarter hour; contacts any day, 7:00 to 21:00.
    day = np.datetime64(as_of, "D") - rng.integers(1, 396, a)
    weekday = (day.astype(np.int64) + 3) % 7
    day -= np.where(meeting & (weekday >= 5), weekday - 4, 0)
    seconds = np.where(meeting, rng.integers(8 * 4, 18 * 4, a) * 900,
                       rng.integers(7 * 3600, 21 * 3600, a))
    local = day.astype("datetime64[s]") + seconds
    order = np.argsort(local, kind="stable")
    occurred = pd.DatetimeIndex(local[order]).tz_localize(TIMEZONE)
    return pd.DataFrame({
        "activity_id": _ids("A-", np.arange(1, a + 1), max(8, len(str(2 * a)))),
        "household_id": book["ids"].take(hh[order]).reset_index(drop=True),
        "kind": _pick(("meeting", "email", "call", "text"), kind[order]),
        "occurred_at": pd.Series(occurred),
        "outcome": _pick(("attended", "no_show", "cancelled", "answered", "unanswered"),
                         outcome[order]),
    })


def _tags(rng, book: dict) -> pd.DataFrame:
    chance = _TAG_CHANCE[book["conduct"]]
    chance[:, list(_TAGS).index("mature_entrepreneur")] *= book["entrepreneur"]
    hh, code = np.nonzero(rng.random(chance.shape) < chance)
    return pd.DataFrame({
        "household_id": book["ids"].take(hh).reset_index(drop=True),
        "tag": _spell(rng, _TAGS, code),
    })


def _overrides(rng, book: dict, as_of: dt.date) -> pd.DataFrame:
    n = book["n"]
    k = min(n, max(2, round(0.006 * n)))
    hh = np.sort(rng.choice(n, size=k, replace=False))
    tier = _draw(rng, (w for w, _ in _OVERRIDES.values()), k)
    reasons = {t: dict.fromkeys(r, 1) for t, (_, r) in _OVERRIDES.items()}
    expiry = _draw(rng, (45, 35, 20), k)  # none, later, already past
    days = np.where(expiry == 1, -rng.integers(1, 366, k), rng.integers(1, 400, k))
    return pd.DataFrame({
        "household_id": book["ids"].take(hh).reset_index(drop=True),
        "tier": _pick(list(_OVERRIDES), tier),
        "reason": _spell(rng, reasons, tier),
        "set_by": book["frame"]["advisor_id"].take(hh).reset_index(drop=True),
        "expires_on": _dates(as_of, days, missing=expiry == 0),
    })


def _add_dirt(rng, frames: dict[str, pd.DataFrame], book: dict) -> None:
    """Spoil a small share of the book the ways the CRM contract says real CRMs are spoiled."""
    n, ids = book["n"], book["ids"]
    households, members, holdings = frames["households"], frames["members"], frames["holdings"]
    width = len(ids.iloc[0]) - 2

    def few(share: float) -> int:
        return max(1, round(share * n))

    def absent(k: int) -> pd.Series:  # ids of households that do not exist
        return _ids("H-", n + 1 + rng.permutation(n)[:k], width)

    def renumber(frame: pd.DataFrame, column: str, prefix: str, k: int, skip=0) -> np.ndarray:
        numbers = len(frame) + 1 + skip + np.arange(k)  # after the last id the frame holds
        return _ids(prefix, numbers, len(frame[column].iloc[0]) - 2).to_numpy()

    # Disjoint active households for each structural defect.
    pool = rng.permutation(np.flatnonzero(book["status"] == 0))
    couples, singles = pool[book["couple"][pool]], pool[~book["couple"][pool]]
    lone, extra = couples[:few(0.002)], singles[:few(0.001)]
    rest = pool[~np.isin(pool, np.concatenate([lone, extra]))]
    twice, self_ref, gone_ref = np.split(rest[:few(0.001) + few(0.0004) + few(0.0006)],
                                         [few(0.001), few(0.001) + few(0.0004)])

    # Members: a couple with one member, an individual with two, members of no household.
    heads = np.searchsorted(book["member_household"], np.concatenate([lone, extra]))
    spouse = members.iloc[heads[len(lone):]].copy()
    spouse["member_id"] = renumber(members, "member_id", "M-", len(spouse))
    names = (*_FEMALE, *_MALE)
    spouse["first_name"] = _pick(names, rng.integers(0, len(names), len(spouse))).to_numpy()
    spouse["email"] = pd.Series(np.nan, index=spouse.index, dtype="str")
    stray = members.iloc[rng.integers(0, len(members), few(0.0005))].copy()
    stray["member_id"] = renumber(members, "member_id", "M-", len(stray), skip=len(spouse))
    stray["household_id"] = absent(len(stray)).to_numpy()
    members = pd.concat([members.drop(members.index[heads[:len(lone)] + 1]), spouse, stray])
    empty = rng.choice(len(members), size=few(0.001), replace=False)
    members.iloc[empty, members.columns.get_loc("occupation")] = ""

    # Holdings: some of no household, some sharing an id.
    stray = holdings.iloc[rng.integers(0, len(holdings), few(0.0005))].copy()
    stray["holding_id"] = renumber(holdings, "holding_id", "P-", len(stray))
    stray["household_id"] = absent(len(stray)).to_numpy()
    copies = holdings.iloc[rng.integers(0, len(holdings), few(0.001))].copy()
    copies["status"] = "closed"
    holdings = pd.concat([holdings, stray, copies])

    # Households: one id on two rows, self-referrals, referrers that are not households.
    again = households.iloc[twice].copy()
    again["advisor_id"] = _ids("CONS-", rng.integers(1, 10, len(again)), 2).to_numpy()
    again["net_worth"] = None
    referral = households.columns.get_loc("referred_by_household_id")
    households.iloc[self_ref, referral] = ids.iloc[self_ref].to_numpy()
    households.iloc[gone_ref, referral] = absent(len(gone_ref)).to_numpy()
    households.iloc[np.concatenate([self_ref, gone_ref]),
                    households.columns.get_loc("relationship")] = "referral"
    households = pd.concat([households, again])

    overrides = frames["segment_overrides"]
    unknown = pd.DataFrame({"household_id": absent(1), "tier": ["A"],
                            "reason": ["Ancien client, dossier fermé"],
                            "set_by": pd.Series([None], dtype="str"),
                            "expires_on": pd.Series([pd.NaT], dtype="datetime64[s]")})
    frames.update(households=households, members=members, holdings=holdings,
                  segment_overrides=pd.concat([overrides, unknown]))
    _spoil_amounts(rng, frames)


_AMOUNTS = AMOUNT_COLUMNS
# Share of the known amounts spoiled each way; the formatted ones still read as their number.
_AMOUNT_DIRT = {"formatted": 0.006, "negative": 0.0002, "absurd": 0.0001, "empty": 0.0003,
                "unparseable": 0.0008}


def _spoil_amounts(rng, frames: dict[str, pd.DataFrame]) -> None:
    columns = [frames[r][c].to_numpy(dtype=object, copy=True) for r, c in _AMOUNTS]
    known = [np.flatnonzero(pd.notna(c)) for c in columns]
    offsets = np.cumsum([0] + [len(k) for k in known])
    counts = [max(1, round(share * offsets[-1])) for share in _AMOUNT_DIRT.values()]
    slots = rng.choice(offsets[-1], size=min(sum(counts), offsets[-1]), replace=False)
    kinds = np.repeat(np.arange(len(counts)), counts)[:len(slots)]
    for c, column in enumerate(columns):
        mine = (slots >= offsets[c]) & (slots < offsets[c + 1])
        rows, kind = known[c][slots[mine] - offsets[c]], kinds[mine]
        values = column[rows].astype(float)
        spoiled = np.select(
            [kind == 1, kind == 2], [-np.maximum(values, 1.0), 1e9 + 1000 * values], values)
        spoiled = np.round(spoiled, 2).astype(object)
        spoiled[kind == 0] = _spelled(rng, values[kind == 0])
        spoiled[kind == 3] = ""
        garbage = _pick(_UNPARSEABLE, rng.integers(0, len(_UNPARSEABLE), int((kind == 4).sum())))
        spoiled[kind == 4] = garbage.to_numpy(dtype=object)
        column[rows] = spoiled
        relation, name = _AMOUNTS[c]
        frames[relation][name] = pd.Series(column, index=frames[relation].index, dtype=object)


def _spelled(rng, values: np.ndarray) -> np.ndarray:
    """Amounts as exports write them: '1 234,56 $' (3 kinds of space), '1,234.56', '$1234.56'."""
    cents = np.round(np.abs(values) * 100).astype(np.int64)
    digits = pd.Series(cents // 100).astype("str")
    padded = digits.str.zfill(12)
    change = pd.Series(cents % 100).astype("str").str.zfill(2)

    def grouped(sep: str) -> pd.Series:
        text = padded.str[0:3]
        for start in (3, 6, 9):
            text = text + sep + padded.str[start:start + 3]
        return text.str.lstrip("0" + sep).where(digits != "0", "0")

    style = rng.integers(0, 5, len(values))
    spelled = [grouped(sep) + "," + change + sep + "$" for sep in (" ", "\u00a0", "\u202f")]
    spelled += [grouped(",") + "." + change, "$" + digits + "." + change]
    return np.choose(style, [s.to_numpy(dtype=object) for s in spelled])


def build_demo_crm(url: str, households: int = DEFAULT_HOUSEHOLDS, seed: int = DEFAULT_SEED,
                   as_of: dt.date | None = None, amounts_as_text: bool = False) -> dict[str, int]:
    """Replace the CRM at `url` with a fresh demo book; return the row count of each relation."""
    target = sa.make_url(url)
    if target.get_backend_name() == "sqlite" and target.database not in (None, "", ":memory:"):
        Path(target.database).unlink(missing_ok=True)
    frames = generate_demo_crm(households, seed, as_of)
    engine = create_engine_for(url)
    try:
        crm_metadata(amounts_as_text, primary_keys=False).drop_all(engine)
        write_crm(engine, frames, amounts_as_text)
    finally:
        engine.dispose()
    return {name: len(frames[name]) for name in RELATIONS}
