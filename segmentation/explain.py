"""Explanations (section 7): one fact a row for BI, and sentences an advisor can read."""

from decimal import Decimal

import numpy as np
import pandas as pd

from segmentation.engine import Assessment, line_cents
from segmentation.money import cents_to_decimal_text
from segmentation.rules import FIGURES, TIERS, Rules

CRITERIA_COLUMNS = ["household_id", "tier", "characteristic", "figure", "threshold", "met"]

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
        "segment": "Segment {segment}", "potential_of": " (potentiel {tier})",
        "met_head": "Critères {tier} remplis ({count} sur {needed} requis) : ",
        "none_met": "Aucun critère rempli : segment {tier} par défaut.",
        "potential_head": "Potentiel {tier} : ",
        "flags_head": "À vérifier : ",
        "override": "Dérogation du conseiller : {segment} ({reason}); segment calculé {computed}.",
        "no_criteria_met": "aucun critère rempli", "conflicting_signals":
        "signaux contradictoires (admissible aussi au segment E)",
        "over_a_cap": "admissible au segment A, mais au-delà du plafond de A",
        "partial_figures": "chiffres partiels (donnée manquante pour un membre)",
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
        "segment": "Segment {segment}", "potential_of": " (potential {tier})",
        "met_head": "{tier} characteristics met ({count} of {needed} needed): ",
        "none_met": "No characteristic met: tier {tier} by default.",
        "potential_head": "Potential for {tier}: ",
        "flags_head": "To review: ",
        "override": "Advisor override: {segment} ({reason}); computed segment {computed}.",
        "no_criteria_met": "no criteria met", "conflicting_signals":
        "conflicting signals (also qualifies for E)",
        "over_a_cap": "meets A criteria; over the A cap",
        "partial_figures": "partial figures (a member's figure is missing)",
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


def format_money(cents: pd.Series, language: str) -> pd.Series:
    """Whole dollars in the language's own format: `412 000 $` or `$412,000`.

    Cents are shown only when there are some (`1 234,56 $`).
    """
    text = cents_to_decimal_text(cents)
    whole = text.str.split(".").str[0]
    frac = text.str.split(".").str[1]
    negative = whole.str.startswith("-")
    digits = whole.str.lstrip("-")
    sep = " " if language == "fr" else ","
    grouped = digits.str[::-1].str.replace(r"(\d{3})(?=\d)", r"\1" + sep, regex=True).str[::-1]
    sign = pd.Series(np.where(negative, "-", ""), index=cents.index, dtype="str")
    if language == "fr":
        body = grouped + np.where(frac != "00", "," + frac, "") + " $"
        return (sign + body).where(cents.notna())
    body = "$" + grouped + np.where(frac != "00", "." + frac, "")
    return (sign + body).where(cents.notna())


def criteria_rows(profiles: pd.DataFrame, assessment: Assessment, rules: Rules) -> pd.DataFrame:
    """One row per characteristic met, or missed by no more than the near-miss margin.

    `figure` and `threshold` are plain text: amounts as `412000.00`, codes otherwise.
    """
    margin = Decimal(str(rules.potential.near_miss.margin))
    parts = []
    for tier in TIERS:
        spec, met = rules.tiers[tier], assessment.met[tier]
        for figure, line in spec.more_than.items():
            value = profiles[figure]
            near = value.gt(line_cents(profiles, line, 1 - margin)).fillna(False)
            parts.append(_rows(tier, f"{figure}_gt", met[f"{figure}_gt"], near,
                               cents_to_decimal_text(value),
                               cents_to_decimal_text(line_cents(profiles, line))))
        for figure, line in spec.less_than.items():
            value = profiles[figure]
            complete = ~profiles[f"{figure}_partial"]
            near = (value.lt(line_cents(profiles, line, 1 + margin)) & complete).fillna(False)
            parts.append(_rows(tier, f"{figure}_lt", met[f"{figure}_lt"], near,
                               cents_to_decimal_text(value),
                               cents_to_decimal_text(line_cents(profiles, line))))
        qualitative = [c for c in met.columns if not c.endswith(("_gt", "_lt"))]
        for code in qualitative:
            figure, threshold = _qualitative_text(profiles, code, spec)
            parts.append(_rows(tier, code, met[code], met[code], figure, threshold))
    rows = pd.concat(parts, ignore_index=True)
    return rows[CRITERIA_COLUMNS]


def _rows(tier, code, met: pd.Series, near: pd.Series, figure, threshold) -> pd.DataFrame:
    keep = (met | near).to_numpy()
    index = met.index[keep]
    return pd.DataFrame({
        "household_id": index,
        "tier": tier,
        "characteristic": code,
        "figure": pd.Series(figure, index=met.index).loc[index].to_numpy()
        if not isinstance(figure, str) else figure,
        "threshold": pd.Series(threshold, index=met.index).loc[index].to_numpy()
        if not isinstance(threshold, str) else threshold,
        "met": met.loc[index].to_numpy(),
    })


def _qualitative_text(profiles, code, spec):
    if code == "relationship":
        return profiles["relationship"], "|".join(spec.relationships)
    if code == "referral":
        return profiles["referred_by_household_id"], "referrer in " + "|".join(spec.referred_by)
    if code == "occupation":
        held = pd.Series("", index=profiles.index, dtype="str")
        for category in spec.occupations:
            held += np.where(profiles[f"occ_{category}"], category + "|", "")
        return held.str.rstrip("|"), "|".join(spec.occupations)
    if code == "no_show":
        return "tag or " + profiles["missed_meetings"].astype(str) + " no-shows", "tag or >= n"
    return "tag", "tag"


def reasons(profiles: pd.DataFrame, segments: pd.DataFrame, criteria: pd.DataFrame,
            rules: Rules, language: str | None = None) -> pd.Series:
    """The explanation of each household's segment, in the rules' language by default."""
    language = language or rules.language
    words = WORDS[language]
    ids = segments.index
    own = criteria[criteria["met"] & (criteria["tier"].to_numpy()
                                      == segments["computed_tier"].reindex(
                                          criteria["household_id"]).to_numpy())]
    phrases = _phrases(own, profiles, language)
    listed = phrases.groupby(own["household_id"].to_numpy()).agg("; ".join).reindex(ids)

    head = segments["segment"].map(lambda s: words["segment"].format(segment=s))
    head += segments["potential_tier"].map(
        lambda t: words["potential_of"].format(tier=t), na_action="ignore").fillna("")
    text = head + ". "
    tier = segments["computed_tier"]
    needed = tier.map({t: rules.tiers[t].needed for t in TIERS})
    met_count = pd.Series(
        segments[[f"criteria_met_{t.lower()}" for t in TIERS]].to_numpy()[
            np.arange(len(segments)), tier.map(TIERS.index).to_numpy()],
        index=ids)
    met_head = pd.Series([words["met_head"].format(tier=t, count=c, needed=n)
                          for t, c, n in zip(tier, met_count, needed, strict=True)],
                         index=ids, dtype="str")
    default = tier.map(lambda t: words["none_met"].format(tier=t))
    text += (met_head + listed.fillna("") + ".").where(~segments["no_criteria_met"], default)

    pot = segments["potential_reasons"].dropna()
    if len(pot):
        pot_text = pd.Series([
            words["potential_head"].format(tier=t) + ", ".join(
                words[s].format(tier=t) for s in r.split(",")) + "."
            for t, r in zip(segments.loc[pot.index, "potential_tier"], pot, strict=True)],
            index=pot.index, dtype="str")
        text += (" " + pot_text).reindex(ids).fillna("")

    flag_names = [f for f in ("conflicting_signals", "over_a_cap", "partial_figures",
                              "expired_override") if f in segments]
    flagged = pd.Series("", index=ids, dtype="str")
    for flag in flag_names:
        flagged += np.where(segments[flag], words[flag] + ", ", "")
    flagged = flagged.str.rstrip(", ")
    text += np.where(flagged != "", " " + words["flags_head"] + flagged + ".", "")

    over = segments["overridden"]
    if over.any():
        override_text = pd.Series([
            words["override"].format(segment=s, reason=r, computed=c)
            for s, r, c in zip(segments.loc[over, "segment"], segments.loc[over, "override_reason"],
                               segments.loc[over, "computed_segment"], strict=True)],
            index=ids[over.to_numpy()], dtype="str")
        text += (" " + override_text).reindex(ids).fillna("")
    return text.astype("str")


def _phrases(rows: pd.DataFrame, profiles: pd.DataFrame, language: str) -> pd.Series:
    """One short phrase per criteria row: `Revenu annuel 160 000 $ > 150 000 $ (individuel)`."""
    words = WORDS[language]
    code = rows["characteristic"]
    figure = code.str.removesuffix("_gt").str.removesuffix("_lt")
    ids = rows["household_id"]
    out = pd.Series("", index=rows.index, dtype="str")
    is_amount = code.str.endswith(("_gt", "_lt"))
    if is_amount.any():
        amounts = rows[is_amount]
        fig = figure[is_amount]
        value = pd.Series(pd.NA, index=amounts.index, dtype="Int64")
        partial = pd.Series(False, index=amounts.index)
        for name in FIGURES:
            pick = (fig == name).to_numpy()
            value[pick] = profiles[name].reindex(ids[is_amount][pick]).to_numpy()
            partial[pick] = profiles[f"{name}_partial"].reindex(ids[is_amount][pick]).to_numpy()
        line = _decimal_text_to_cents(amounts["threshold"])
        htype = profiles["household_type"].reindex(ids[is_amount]).to_numpy()
        op = np.where(code[is_amount].str.endswith("_gt"), " > ", " < ")
        out[is_amount] = (fig.map(words) + " " + np.where(partial, words["at_least"], "")
                          + format_money(value, language) + op
                          + format_money(line, language) + " ("
                          + pd.Series(htype, index=amounts.index).map(words) + ")")
    rel = code == "relationship"
    rel_words = {**words, "referral": words["referral_rel"]}
    colon = " : " if language == "fr" else ": "
    out[rel] = words["relationship"] + colon + rows.loc[rel, "figure"].map(rel_words)
    ref = code == "referral"
    out[ref] = words["referral"] + " " + rows.loc[ref, "figure"]
    occ = code == "occupation"
    occ_words = OCCUPATION_WORDS[language]
    out[occ] = (words["occupation"] + colon
                + rows.loc[occ, "figure"].map(
                    lambda v: ", ".join(occ_words[c] for c in v.split("|") if c)))
    other = ~(is_amount | rel | ref | occ)
    out[other] = code[other].map(words)
    return out


def _decimal_text_to_cents(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text.str.replace(".", "", regex=False), errors="coerce").astype("Int64")
