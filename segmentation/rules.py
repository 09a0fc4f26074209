"""The segmentation rules: loaded from YAML, validated, and given a digest."""

import hashlib
import json
import os
from decimal import Decimal
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from segmentation.text import normalize_text

TIERS = ("A", "B", "C", "D", "E")
FIGURES = ("aum", "premiums", "savings", "income", "net_worth")
BEHAVIOURS = (
    "diligent", "collaborative", "courteous", "unfriendly", "disagreeable", "disrespectful",
    "no_show", "unresponsive", "no_potential",
)
TAGS = (*BEHAVIOURS, "has_potential", "mature_entrepreneur")
RELATIONSHIPS = ("family", "close_friend", "referral", "limited", "none")
# Not matched from text: an entrepreneur long enough in business, or tagged so.
MATURE_ENTREPRENEUR = "mature_entrepreneur"
ENTREPRENEUR = "entrepreneur"

Tier = Literal["A", "B", "C", "D", "E"]
Figure = Literal["aum", "premiums", "savings", "income", "net_worth"]
Behaviour = Literal[BEHAVIOURS]  # type: ignore[valid-type]
Relationship = Literal[RELATIONSHIPS]  # type: ignore[valid-type]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
HouseholdType = Literal["individual", "couple"]

DEFAULT_RULES = "rules.yaml"


class RulesError(ValueError):
    """The rules file cannot be used; the message names the key at fault."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Line(_Strict):
    # Lines are whole cents so that every comparison is exact in integer cents.
    couple: Decimal = Field(ge=0, decimal_places=2)
    individual: Decimal = Field(ge=0, decimal_places=2)

    def cents(self, household_type: str) -> int:
        return int(getattr(self, household_type) * 100)


class TierRules(_Strict):
    needed: int = Field(ge=1, strict=True)
    more_than: dict[Figure, Line] = {}
    less_than: dict[Figure, Line] = {}
    relationships: list[Relationship] = []
    referred_by: list[Tier] = []
    occupations: list[Code] = []
    behaviours: list[Behaviour] = []

    @model_validator(mode="after")
    def _one_direction(self):
        if self.more_than and self.less_than:
            raise ValueError("a tier has either more_than or less_than lines, not both")
        listed = len(self.characteristics)
        if self.needed > listed:
            raise ValueError(f"needed is {self.needed} but the tier lists only {listed} "
                             "characteristics: no household could ever qualify")
        return self

    @property
    def characteristics(self) -> list[str]:
        """Stable codes of this tier's characteristics, in display order."""
        codes = [f"{f}_gt" for f in self.more_than] + [f"{f}_lt" for f in self.less_than]
        codes += ["relationship"] if self.relationships else []
        codes += ["referral"] if self.referred_by else []
        codes += ["occupation"] if self.occupations else []
        return codes + list(self.behaviours)


class ACap(_Strict):
    share: float | None = Field(default=None, gt=0, le=1)
    count: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _share_or_count(self):
        if self.share is not None and self.count is not None:
            raise ValueError("give the A cap as a share or as a count, not both")
        return self

    def limit(self, book_size: int) -> int | None:
        if self.count is not None:
            return self.count
        if self.share is not None:
            return int(Decimal(str(self.share)) * book_size)
        return None


class Behaviour_(_Strict):
    window_months: int = Field(ge=1, le=120)
    missed_meetings: int = Field(ge=1)
    unanswered_in_a_row: int = Field(ge=1)
    mature_entrepreneur_years: int = Field(ge=0, le=100)


class NearMiss(_Strict):
    enabled: bool = True
    margin: float = Field(ge=0, lt=1)


class OccupationSteps(_Strict):
    enabled: bool = True
    steps: dict[Code, Literal["A", "B"]] = {}


class Potential(_Strict):
    advisor_tag: bool = True
    near_miss: NearMiss
    occupation_steps: OccupationSteps
    value_band: bool = True
    a_cap: bool = True


class Quality(_Strict):
    max_left_out_share: float = Field(ge=0, le=1)
    absurd_amount: Decimal = Field(gt=0)


class Vocabulary(_Strict):
    household_type: dict[HouseholdType, list[str]]
    status: dict[Literal["active", "inactive", "prospect"], list[str]]
    relationship: dict[Relationship, list[str]]
    tag: dict[Literal[TAGS], list[str]]  # type: ignore[valid-type]
    holding_kind: dict[Literal["investment", "insurance"], list[str]] = {}
    holding_status: dict[Literal["open", "closed"], list[str]] = {}
    activity_kind: dict[Literal["meeting", "email", "call", "text"], list[str]] = {}
    activity_outcome: dict[Literal["attended", "no_show", "cancelled", "answered",
                                   "unanswered"], list[str]] = {}

    @model_validator(mode="after")
    def _one_code_per_spelling(self):
        for kind, table in self:
            owner: dict[str, str] = {}
            for code, spellings in table.items():
                for spelling in [code, *spellings]:
                    key = normalize_text(spelling)
                    if not key:
                        raise ValueError(f"{kind}.{code}: the spelling {spelling!r} has no "
                                         "letter or digit")
                    if owner.setdefault(key, code) != code:
                        raise ValueError(f"{kind}: {spelling!r} is listed under both "
                                         f"{owner[key]} and {code}")
        return self


class OccupationEntry(_Strict):
    category: Code
    phrases: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _phrases_have_words(self):
        empty = [p for p in self.phrases if not normalize_text(p)]
        if empty:
            raise ValueError(f"phrases {empty!r} of {self.category} have no letter or digit")
        return self


class Rules(_Strict):
    language: Literal["fr", "en"] = "fr"
    timezone: str = "America/Montreal"
    tiers: dict[Tier, TierRules]
    order: list[Tier]
    fallback: Tier
    a_cap: ACap
    targets: dict[Tier, tuple[float, float]]
    behaviour: Behaviour_
    value_weights: dict[Figure, Annotated[float, Field(ge=0, allow_inf_nan=False)]]
    potential: Potential
    quality: Quality
    vocabulary: Vocabulary
    occupations: list[OccupationEntry]

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    @model_validator(mode="after")
    def _coherent(self):
        if set(self.tiers) != set(TIERS):
            raise ValueError(f"tiers must define each of {', '.join(TIERS)}")
        if sorted(self.order) != sorted(TIERS):
            raise ValueError("order must name each tier exactly once")
        if set(self.targets) != set(TIERS):
            raise ValueError("targets must give a band for each tier")
        for tier, (low, high) in self.targets.items():
            if not 0 <= low <= high <= 1:
                raise ValueError(f"targets.{tier} must be two shares with 0 <= min <= max <= 1")
        if any(w < 0 for w in self.value_weights.values()) or not any(self.value_weights.values()):
            raise ValueError("value_weights must be non-negative and not all zero")
        known = {e.category for e in self.occupations} | {MATURE_ENTREPRENEUR}
        for tier, spec in self.tiers.items():
            unknown = sorted(set(spec.occupations) - known)
            if unknown:
                raise ValueError(f"tiers.{tier}.occupations names categories that the "
                                 f"occupations taxonomy does not define: {', '.join(unknown)}")
        unknown = sorted(set(self.potential.occupation_steps.steps) - known)
        if unknown:
            raise ValueError("potential.occupation_steps.steps names categories that the "
                             f"occupations taxonomy does not define: {', '.join(unknown)}")
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(self.timezone)
        except Exception as exc:
            raise ValueError(f"timezone {self.timezone!r} is not a known time zone") from exc
        return self

    @property
    def occupation_categories(self) -> list[str]:
        """Every category a household can hold, derived ones included."""
        seen = dict.fromkeys(e.category for e in self.occupations)
        return [*seen, MATURE_ENTREPRENEUR]

    @cached_property
    def digest(self) -> str:
        # Keys sorted: the same rules written in another key order have the same digest.
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(canonical).hexdigest()[:16]

    def vocabulary_map(self, kind: str) -> dict[str, str]:
        """Normalised spelling -> code for one vocabulary (household_type, status, ...)."""
        table = getattr(self.vocabulary, kind)
        mapping = {}
        for code, spellings in table.items():
            mapping[normalize_text(code)] = code
            for spelling in spellings:
                mapping[normalize_text(spelling)] = code
        return mapping


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key written twice in one mapping (the last would win)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is written twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"the rules file {source} is not valid:"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {key}: {item['msg']}")
    return "\n".join(lines)


def load_rules(path: str | os.PathLike | None = None) -> Rules:
    """Load the rules from `path`, else $SEGMENTATION_RULES, else the packaged defaults."""
    path = path or os.environ.get("SEGMENTATION_RULES") or None
    if path is None:
        source = "(packaged defaults)"
        text = resources.files("segmentation").joinpath(DEFAULT_RULES).read_text("utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise RulesError(f"cannot read the rules file {source}: {exc.strerror}") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise RulesError(f"the rules file {source} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RulesError(f"the rules file {source} must hold a mapping of keys")
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        raise RulesError(_describe(exc, source)) from None
