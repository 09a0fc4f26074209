"""Explanations (section 7): sentences an advisor can read, in French or English."""

import string

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segmentation.criteria import figure_text, threshold_text
from segmentation.engine import Assessment, line_cents
from segmentation.rules import TIERS, Rules
from segmentation.text import TEXT, per_distinct, text_column

WORDS = {
    "fr": {
        "aum": "Actifs sous gestion", "premiums": "Primes d'assurance",
        "savings": "Épargne annuelle", "income": "Revenu annuel", "net_worth": "Valeur nette",
        "couple": "couple", "individual": "individuel", "at_least": "au moins ",
        "relationship": "Relation", "referral": "Référé par", "occupation": "Profession",
        "family": "famille", "close_friend": "ami proche", "referral_rel": "référence",
        "limited": "très peu", "none": "aucune",
        "diligent": "Très assidu et à son affaire", "collaborative": "Très bonne collaboration",
        "courteous": "Courtois et apprécie le service", "unfriendly": "Pas sympathique",
        "disagreeable": "Désagréable", "disrespectful": "Irrespectueux",
        "no_show": "Ne se présente pas aux rencontres", "unresponsive":
        "Ne répond pas aux communications", "no_potential": "Aucun potentiel",
        "potential_of": " (potentiel {tier})",
        "met_head": "Critères {tier} remplis ({count} sur {needed} requis) : ",
        "none_met": "Aucun critère rempli : segment {tier} par défaut.",
        "potential_head": "Potentiel {tier} : ",
        "flags_head": "À vérifier : ",
        "override": "Segment {segment} imposé par le conseiller ({reason}); "
                    "segment calculé {computed}.",
        "no_show_count": " ({n} absences sans préavis en {months} mois)",
        "unresponsive_count": " ({n} communications sans réponse de suite)",
        "referral_from": "Référé par un ménage {tiers} ({id})", "or": " ou ",
        "colon": " : ", "tier_line": "{tier} : {count} sur {needed} requis{mark}",
        "this_tier": "  <- segment calculé", "met_mark": "[x]", "near_mark": "[~]",
        "household": "Ménage {id}, semaine du {week}",
        "type": "Type : {type}",
        "nothing_shown": "Aucun potentiel signalé.",
        "legend": "[x] critère rempli, [~] presque rempli (à moins de la marge de quasi-atteinte)",
        "no_criteria_met": "aucun critère rempli", "conflicting_signals":
        "signaux contradictoires (admissible aussi au segment E)",
        "over_a_cap": "admissible au segment A, mais au-delà du plafond de A",
        "partial_figures": "chiffres partiels (une valeur manque : membre ou compte)",
        "expired_override": "dérogation expirée ignorée",
        "advisor_tag": "le conseiller lui voit du potentiel",
        "near_miss": "près des critères de {tier}",
        "occupation_step": "profession qui mène au segment {tier}",
        "value_band": "valeur dans la bande cible de {tier}",
        "a_cap": "retenu hors de A par le plafond",
    },
    "en": {
        "aum": "Assets under management", "premiums": "Insurance premiums",
        "savings": "Annual savings", "income": "Annual income", "net_worth": "Net worth",
        "couple": "couple", "individual": "individual", "at_least": "at least ",
        "relationship": "Relationship", "referral": "Referred by", "occupation": "Occupation",
        "family": "family", "close_friend": "close friend", "referral_rel": "referral",
        "limited": "very little", "none": "none",
        "diligent": "Diligent and on top of their affairs",
        "collaborative": "Very good collaboration",
        "courteous": "Courteous, appreciates the service", "unfriendly": "Unfriendly",
        "disagreeable": "Disagreeable", "disrespectful": "Disrespectful",
        "no_show": "Misses meetings without notice",
        "unresponsive": "Does not answer communications", "no_potential": "No potential",
        "potential_of": " (potential {tier})",
        "met_head": "{tier} characteristics met ({count} of {needed} needed): ",
        "none_met": "No characteristic met: tier {tier} by default.",
        "potential_head": "Potential for {tier}: ",
        "flags_head": "To review: ",
        "override": "Segment {segment} set by the advisor ({reason}); "
                    "computed segment {computed}.",
        "no_show_count": " ({n} no-shows in {months} months)",
        "unresponsive_count": " ({n} unanswered contacts in a row)",
        "referral_from": "Referred by an {tiers} household ({id})", "or": " or ",
        "colon": ": ", "tier_line": "{tier}: {count} of {needed} needed{mark}",
        "this_tier": "  <- computed tier", "met_mark": "[x]", "near_mark": "[~]",
        "household": "Household {id}, week of {week}",
        "type": "Type: {type}",
        "nothing_shown": "No potential shown.",
        "legend": "[x] characteristic met, [~] nearly met (within the near-miss margin)",
        "no_criteria_met": "no criteria met", "conflicting_signals":
        "conflicting signals (also qualifies for E)",
        "over_a_cap": "meets A criteria; over the A cap",
        "partial_figures": "partial figures (a member's or an account's value is missing)",
        "expired_override": "expired override ignored",
        "advisor_tag": "the advisor sees potential",
        "near_miss": "close to the {tier} criteria",
        "occupation_step": "an occupation that leads to {tier}",
        "value_band": "value inside the {tier} target band",
        "a_cap": "held out of A by the cap",
    },
}

OCCUPATION_WORDS = {
    "fr": {"physician": "médecin", "mature_entrepreneur": "entrepreneur établi",
           "pharmacist": "pharmacien", "veterinarian": "vétérinaire", "dentist": "dentiste",
           "psychologist": "psychologue", "resident_physician": "médecin résident",
           "university_professor": "professeur d'université", "nurse": "infirmier",
           "engineer": "ingénieur", "accountant": "comptable", "lawyer": "avocat",
           "teacher": "enseignant", "manager": "gestionnaire",
           "health_care_worker": "domaine de la santé"},
    "en": {"physician": "physician", "mature_entrepreneur": "mature entrepreneur",
           "pharmacist": "pharmacist", "veterinarian": "veterinarian", "dentist": "dentist",
           "psychologist": "psychologist", "resident_physician": "resident physician",
           "university_professor": "university professor", "nurse": "nurse",
           "engineer": "engineer", "accountant": "accountant", "lawyer": "lawyer",
           "teacher": "teacher", "manager": "manager",
           "health_care_worker": "health-care worker"},
}


_REVIEWED = ("conflicting_signals", "over_a_cap", "partial_figures", "expired_override")


def _join(*parts) -> pa.Array:
    """Row by row, the parts end to end: text arrays of one length, or plain strings."""
    return pc.binary_join_element_wise(
        *(p if isinstance(p, pa.Array) else pa.scalar(p, TEXT) for p in parts),
        pa.scalar("", TEXT))


def _pick(choices: list[str], codes: np.ndarray) -> pa.Array:
    """choices[code], row by row."""
    return pa.array(choices, TEXT).take(np.asarray(codes, dtype=np.int64))


def _fill(template: str, **values) -> pa.Array:
    """`template.format(**values)` row by row, where values may be text arrays."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts += [literal] if literal else []
        parts += [values[name]] if name is not None else []
    return _join(*parts)


def _money_text(cents: np.ndarray, language: str) -> pa.Array:
    """Every amount formatted (see `format_money`), with integer arithmetic, group by group."""
    sep, point = (" ", ",") if language == "fr" else (",", ".")
    dollars, hundredths = np.divmod(np.abs(cents), 100)
    count = np.ones(len(cents), dtype=np.int64)  # groups of three digits
    while (dollars >= 1000 ** count).any():
        count += dollars >= 1000 ** count
    # The leading group as is, each one after it as a separator and three digits.
    groups = [str(g) for g in range(1000)] + [f"{sep}{g:03d}" for g in range(1000)] + [""]
    parts = []
    for i in reversed(range(int(count.max(initial=1)))):
        group = dollars // 1000 ** i % 1000
        parts.append(_pick(groups, np.where(count - 1 == i, group,
                                            np.where(count - 1 > i, 1000 + group, 2000))))
    parts.append(_pick([""] + [f"{point}{c:02d}" for c in range(1, 100)], hundredths))
    sign = _pick(["", "-"], cents < 0)
    return _join(sign, *parts, " $") if language == "fr" else _join(sign, "$", *parts)


def _money(cents: np.ndarray, language: str) -> pa.Array:
    """Amounts formatted once per distinct value."""
    codes, distinct = pd.factorize(cents)
    return _money_text(np.asarray(distinct, dtype=np.int64), language).take(codes)


def format_money(cents: pd.Series, language: str) -> pd.Series:
    """Whole dollars in the language's own format: `412 000 $` or `$412,000`.

    Cents are shown only when there are some (`1 234,56 $`).
    """
    codes, distinct = pd.factorize(cents)
    text = _money_text(np.asarray(distinct, dtype=np.int64), language)
    return text_column(text.take(pa.array(codes, mask=codes < 0)), cents.index)


def _amount_said(code: str, cents: np.ndarray, line: np.ndarray, met: np.ndarray,
                 partial: np.ndarray, couple: np.ndarray, language: str) -> pa.Array:
    """`Revenu annuel 160 000 $ > 150 000 $ (individuel)`: a nearly met line is shown with
    the comparison that actually holds."""
    words = WORDS[language]
    label = words[code[:-3]] + " "
    ops = [" ≤ ", " > "] if code.endswith("_gt") else [" ≥ ", " < "]

    def comparison(line, met, couple):
        money = _money_text(np.array([line]), language)[0].as_py()
        return f"{ops[bool(met)]}{money} ({words['couple' if couple else 'individual']})"

    return _join(_pick([label, label + words["at_least"]], partial), _money(cents, language),
                 per_distinct(comparison, line, met, couple))


def _said(code: str, figure: pa.Array, threshold: pa.Array, rules: Rules,
          language: str) -> pa.Array:
    """The phrase of a qualitative characteristic, row by row, from its figure and threshold
    as the criteria rows hold them: `Profession : dentiste`."""
    words, colon = WORDS[language], WORDS[language]["colon"]
    if code == "relationship":
        names = {**words, "referral": words["referral_rel"]}
        return _join(words["relationship"] + colon, per_distinct(names.get, figure))
    if code == "referral":
        tiers = per_distinct(lambda t: t.replace("|", words["or"]), threshold)
        return _fill(words["referral_from"], tiers=tiers, id=figure)
    if code == "occupation":
        names = OCCUPATION_WORDS[language]
        return _join(words["occupation"] + colon, per_distinct(lambda v: ", ".join(
            names.get(c, c.replace("_", " ")) for c in v.split("|") if c), figure))
    said = pa.repeat(pa.scalar(words.get(code, code), TEXT), len(figure))
    if code in ("no_show", "unresponsive"):
        template = words[f"{code}_count"]
        said = _join(said, per_distinct(lambda n: "" if n == "tag" else template.format(
            n=n, months=rules.behaviour.window_months), figure))
    return said


def phrases(rows: pd.DataFrame, household_type: pd.Series, rules: Rules,
            language: str) -> pd.Series:
    """One short phrase per criteria row: `Revenu annuel 160 000 $ > 150 000 $ (individuel)`."""
    out = pd.Series("", index=rows.index, dtype="str")
    couple = (household_type == "couple").to_numpy(dtype=bool)
    for code in rows["characteristic"].unique():
        at = (rows["characteristic"] == code).to_numpy()
        part = rows[at]
        if code.endswith(("_gt", "_lt")):
            said = _amount_said(code, _cents(part["figure"]), _cents(part["threshold"]),
                                part["met"].to_numpy(dtype=bool),
                                part["partial"].to_numpy(dtype=bool), couple[at], language)
        else:
            said = _said(code, pa.array(part["figure"].astype("str").array),
                         pa.array(part["threshold"].astype("str").array), rules, language)
        out[at] = text_column(said, part.index)
    return out


def _cents(text: pd.Series) -> np.ndarray:
    """Decimal text (`'412000.00'`) back to integer cents."""
    return pd.to_numeric(text.str.replace(".", "", regex=False)).to_numpy(dtype=np.int64)


def _listed(assessment: Assessment, profiles: pd.DataFrame, rules: Rules, language: str,
            shown: np.ndarray) -> pa.Array:
    """For each household where `shown`, the characteristics it meets for its computed tier,
    as phrases joined by "; " in the tier's order (empty when none)."""
    segments, met, figures = assessment.segments, assessment.met, assessment.figures
    tier = per_distinct(TIERS.index, segments["computed_tier"], kind=pa.int64()).to_numpy()
    said, households = [], []
    for code, name in enumerate(TIERS):
        spec, rows = rules.tiers[name], np.flatnonzero((tier == code) & shown)
        for characteristic in spec.characteristics:
            who = rows[met[name][characteristic].to_numpy()[rows]]
            households.append(who)
            if characteristic.endswith(("_gt", "_lt")):
                figure = characteristic[:-3]
                line = (spec.more_than | spec.less_than)[figure]
                couple = figures.couple[who]
                said.append(_amount_said(characteristic, figures.cents[figure][who],
                                         line_cents(couple, line), np.ones(len(who), bool),
                                         figures.partial[figure][who], couple, language))
            else:
                figure = figure_text(profiles, characteristic, spec, rules, who)
                figure = figure if len(figure) == len(who) else pa.repeat(figure[0], len(who))
                threshold = pa.repeat(pa.scalar(threshold_text(characteristic, spec, rules),
                                                TEXT), len(who))
                said.append(_said(characteristic, figure, threshold, rules, language))
    # The phrases come characteristic by characteristic. Each household gets one list of its
    # own, in book order; a phrase goes after those the household already has.
    households = np.concatenate(households)
    start = np.concatenate([[0], np.cumsum(np.bincount(households, minlength=len(tier)))])
    filled = start[:-1].copy()
    position = np.empty(len(households), dtype=np.int64)
    done = 0
    for who in map(len, said):
        rows = households[done:done + who]  # distinct: one phrase per household here
        position[done:done + who] = filled[rows]
        filled[rows] += 1
        done += who
    ordered = np.empty(len(position), dtype=np.int64)
    ordered[position] = np.arange(len(position))
    lists = pa.LargeListArray.from_arrays(pa.array(start), pa.concat_arrays(said).take(ordered))
    return pc.binary_join(lists, pa.scalar("; ", TEXT))


def reasons(assessment: Assessment, profiles: pd.DataFrame, rules: Rules,
            language: str | None = None) -> pd.Series:
    """The explanation of each household's segment, in the rules' language by default.

    `assessment.segments` is indexed by household id and holds the engine's columns (computed
    tier, segment, potential, flags as booleans, override) and the expired_override and
    partial_figures flags.
    """
    language = language or rules.language
    words = WORDS[language]
    segments = assessment.segments
    tier = segments["computed_tier"]
    count = segments[[f"criteria_met_{t.lower()}" for t in TIERS]].to_numpy()[
        np.arange(len(tier)), per_distinct(TIERS.index, tier, kind=pa.int64()).to_numpy()]
    none_met = segments["no_criteria_met"].to_numpy()
    over = segments["overridden"].to_numpy()

    def body(tier, count, none_met):
        if none_met:
            return words["none_met"].format(tier=tier)
        return words["met_head"].format(tier=tier, count=count, needed=rules.tiers[tier].needed)

    def opening(segment, potential_tier, tier, count, none_met):
        potential = words["potential_of"].format(tier=potential_tier) if potential_tier else ""
        return f"Segment {segment}{potential}. {body(tier, count, none_met)}"

    def closing(none_met, potential_tier, signals, overridden, *flags):
        end = "" if none_met else "."
        if signals is not None and not overridden:
            end += " " + _potential_sentence(f"{potential_tier}|{signals}", words)
        said = ", ".join(words[f] for f, on in zip(_REVIEWED, flags, strict=True) if on)
        return end + (f" {words['flags_head']}{said}." if said else "")

    start = per_distinct(opening, segments["segment"], segments["potential_tier"], tier, count,
                         none_met)
    if over.any():
        rows = np.flatnonzero(over)
        said = _fill(words["override"] + " ", **{
            key: pa.array(segments[column].iloc[rows].array) for key, column in (
                ("segment", "segment"), ("reason", "override_reason"),
                ("computed", "computed_segment"))})
        said = _join(said, per_distinct(body, tier.iloc[rows], count[rows], none_met[rows]))
        slot = np.full(len(over), -1)
        slot[rows] = np.arange(len(rows))
        start = pc.coalesce(said.take(pa.array(slot, mask=slot < 0)), start)
    end = per_distinct(closing, none_met, segments["potential_tier"],
                       segments["potential_reasons"], over, *(segments[f] for f in _REVIEWED))
    listed = _listed(assessment, profiles, rules, language, ~none_met)
    return text_column(_join(start, listed, end), segments.index)


def _potential_sentence(key: str, words: dict) -> str:
    target, signals = key.split("|")
    said = ", ".join(words[s].format(tier=target) for s in signals.split(",") if s)
    return words["potential_head"].format(tier=target) + said + "."


def explain_household(segment: dict, criteria: pd.DataFrame, rules: Rules,
                      language: str | None = None) -> str:
    """A person-readable account of one published household: its segment, every tier's
    characteristics met ([x]) or nearly met ([~]), its potential and its flags."""
    language = language or rules.language
    words = WORDS[language]
    flags = set(filter(None, (segment.get("flags") or "").split(",")))
    lines = [words["household"].format(id=segment["household_id"],
                                       week=segment["as_of_date"])]
    if segment.get("override_reason"):
        lines.append(words["override"].format(segment=segment["segment"],
                                              reason=segment["override_reason"],
                                              computed=segment["computed_segment"]))
    else:
        potential = segment.get("potential_tier")
        lines.append("Segment " + segment["segment"] + (
            words["potential_of"].format(tier=potential) if potential else "") + ".")
    lines.append(words["type"].format(type=words[segment["household_type"]]))
    computed_tier = segment["computed_segment"][0]
    htype = pd.Series(segment["household_type"], index=criteria.index)
    said = phrases(criteria, htype, rules, language) if len(criteria) else pd.Series()
    for tier in TIERS:
        mark = words["this_tier"] if tier == computed_tier else ""
        lines.append("")
        lines.append(words["tier_line"].format(
            tier=tier, count=segment[f"criteria_met_{tier.lower()}"],
            needed=rules.tiers[tier].needed, mark=mark))
        order = {c: i for i, c in enumerate(rules.tiers[tier].characteristics)}
        mine = criteria[criteria["tier"] == tier]
        mine = mine.iloc[mine["characteristic"].map(order).fillna(len(order)).argsort(
            kind="stable")]
        for idx, row in mine.iterrows():
            box = words["met_mark"] if row["met"] else words["near_mark"]
            lines.append(f"  {box} {said[idx]}")
    lines.append("")
    signals = segment.get("potential_signals")
    if segment.get("potential_tier") and signals and not segment.get("override_reason"):
        lines.append(_potential_sentence(f"{segment['potential_tier']}|{signals}", words))
    elif not segment.get("has_potential"):
        lines.append(words["nothing_shown"])
    shown = [words[f] for f in ("no_criteria_met", "conflicting_signals", "over_a_cap",
                                "partial_figures", "expired_override") if f in flags]
    if shown:
        lines.append(words["flags_head"] + ", ".join(shown) + ".")
    lines.append(words["legend"])
    lines.append(f"rules_version {segment.get('rules_version', '')}")
    return "\n".join(lines)
