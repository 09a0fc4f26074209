"""Explanations (section 7): sentences an advisor can read, in French or English."""

import numpy as np
import pandas as pd

from segmentation.rules import TIERS, Rules
from segmentation.text import map_distinct

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


def format_money(cents: pd.Series, language: str) -> pd.Series:
    """Whole dollars in the language's own format: `412 000 $` or `$412,000`.

    Cents are shown only when there are some (`1 234,56 $`).
    """
    sep, point = (" ", ",") if language == "fr" else (",", ".")
    present = cents.notna().to_numpy()
    value = cents.fillna(0).to_numpy(dtype="int64")
    dollars, frac = np.divmod(np.abs(value), 100)
    # Thousands groups with integer arithmetic rather than regexes: the top group as is, the
    # ones below it padded to three digits.
    groups, rest = [], dollars
    while True:
        groups.append(rest % 1000)
        rest = rest // 1000
        if not (rest > 0).any():
            break
    count = np.ones_like(dollars)
    for i in range(1, len(groups)):
        count += dollars >= 1000 ** i
    text = pd.Series("", index=range(len(dollars)), dtype="str")
    for i in reversed(range(len(groups))):
        group = pd.Series(groups[i], dtype="int64").astype("str")
        part = np.where(count - 1 == i, group,
                        np.where(count - 1 > i, sep + group.str.zfill(3), ""))
        text = text + part
    frac_text = pd.Series(frac, dtype="int64").astype("str").str.zfill(2)
    body = text + pd.Series(np.where(frac > 0, point + frac_text, ""), dtype="str")
    sign = np.where(value < 0, "-", "")
    out = sign + (body + " $" if language == "fr" else "$" + body)
    out = pd.Series(out.to_numpy(), index=cents.index, dtype="str")
    return out.where(present)




def _cents(text: pd.Series) -> pd.Series:
    """Decimal text (`'412000.00'`) back to integer cents."""
    return pd.to_numeric(text.str.replace(".", "", regex=False), errors="coerce").astype("Int64")


def phrases(rows: pd.DataFrame, household_type: pd.Series, rules: Rules,
            language: str) -> pd.Series:
    """One short phrase per criteria row: `Revenu annuel 160 000 $ > 150 000 $ (individuel)`."""
    words, colon = WORDS[language], WORDS[language]["colon"]
    code = rows["characteristic"]
    out = pd.Series("", index=rows.index, dtype="str")

    amount = code.str.endswith(("_gt", "_lt")).to_numpy()
    if amount.any():
        part = rows[amount]
        label = code[amount].str[:-3].map(words)
        gt = code[amount].str.endswith("_gt").to_numpy()
        met = part["met"].astype(bool).to_numpy()
        # A nearly met line is shown with the comparison that actually holds.
        op = np.where(gt, np.where(met, " > ", " ≤ "), np.where(met, " < ", " ≥ "))
        at_least = np.where(part["partial"].astype(bool), words["at_least"], "")
        htype = household_type[amount].map(words)
        out[amount] = (label + " " + at_least + format_money(_cents(part["figure"]), language)
                       + op + format_money(_cents(part["threshold"]), language)
                       + " (" + htype + ")")

    rel = (code == "relationship").to_numpy()
    rel_words = {**words, "referral": words["referral_rel"]}
    out[rel] = words["relationship"] + colon + rows.loc[rel, "figure"].map(rel_words)

    ref = (code == "referral").to_numpy()
    out[ref] = [words["referral_from"].format(tiers=t.replace("|", words["or"]), id=i)
                for t, i in zip(rows.loc[ref, "threshold"], rows.loc[ref, "figure"], strict=True)]

    occ = (code == "occupation").to_numpy()
    names = OCCUPATION_WORDS[language]
    out[occ] = words["occupation"] + colon + map_distinct(
        rows.loc[occ, "figure"],
        lambda v: ", ".join(names.get(c, c.replace("_", " ")) for c in v.split("|") if c))

    other = ~(amount | rel | ref | occ)
    out[other] = code[other].map(words).fillna(code[other])
    for behaviour in ("no_show", "unresponsive"):
        counted = ((code == behaviour) & (rows["figure"] != "tag")).to_numpy()
        template = words[f"{behaviour}_count"]
        out[counted] += map_distinct(
            rows.loc[counted, "figure"],
            lambda n, t=template: t.format(n=n, months=rules.behaviour.window_months))
    return out


def _joined(phrases_: pd.Series, keys: pd.Series, index: pd.Index) -> pd.Series:
    """The phrases of each key joined by "; ", in order, without a Python loop per key."""
    frame = pd.DataFrame({"key": keys.to_numpy(), "text": phrases_.to_numpy()})
    if frame.empty:
        return pd.Series(pd.NA, index=index, dtype="str")
    frame["position"] = frame.groupby("key").cumcount()
    wide = frame.pivot(index="key", columns="position", values="text")
    joined = wide[0].astype("str")
    for position in wide.columns[1:]:
        following = wide[position].astype("str")
        joined = joined.where(following.isna(), joined + "; " + following)
    return joined.reindex(index)


def reasons(segments: pd.DataFrame, criteria: pd.DataFrame, rules: Rules,
            language: str | None = None) -> pd.Series:
    """The explanation of each household's segment, in the rules' language by default.

    `segments` is indexed by household id and holds the engine's columns (computed tier,
    segment, potential, flags as booleans, override).
    """
    language = language or rules.language
    words = WORDS[language]
    ids = segments.index
    tier = segments["computed_tier"]
    owner_tier = tier.reindex(criteria["household_id"]).to_numpy()
    own = criteria[criteria["met"].to_numpy() & (criteria["tier"].to_numpy() == owner_tier)]
    htype = segments["household_type"].reindex(own["household_id"]).set_axis(own.index)
    listed = _joined(phrases(own, htype, rules, language), own["household_id"], ids)

    head = "Segment " + segments["segment"] + map_distinct(
        segments["potential_tier"], lambda t: words["potential_of"].format(tier=t)
    ).fillna("") + "."
    over = segments["overridden"].to_numpy()
    if over.any():
        head[over] = [words["override"].format(segment=s, reason=r, computed=c) for s, r, c in
                      zip(segments.loc[over, "segment"], segments.loc[over, "override_reason"],
                          segments.loc[over, "computed_segment"], strict=True)]

    count = pd.Series(segments[[f"criteria_met_{t.lower()}" for t in TIERS]].to_numpy()[
        np.arange(len(ids)), tier.map(TIERS.index).to_numpy()], index=ids)
    key = tier + "|" + count.astype(str)
    heads = {k: words["met_head"].format(tier=k.split("|")[0], count=k.split("|")[1],
                                         needed=rules.tiers[k.split("|")[0]].needed)
             for k in key.unique()}
    body = key.map(heads) + listed.fillna("") + "."
    body = body.where(~segments["no_criteria_met"],
                      map_distinct(tier, lambda t: words["none_met"].format(tier=t)))
    text = head + " " + body

    pot = segments["potential_reasons"].notna() & ~segments["overridden"]
    if pot.any():
        pkey = segments.loc[pot, "potential_tier"] + "|" + segments.loc[pot, "potential_reasons"]
        table = {k: _potential_sentence(k, words) for k in pkey.unique()}
        text[pot] += " " + pkey.map(table)

    flagged = pd.Series("", index=ids, dtype="str")
    for flag in ("conflicting_signals", "over_a_cap", "partial_figures", "expired_override"):
        flagged += np.where(segments[flag], words[flag] + ", ", "")
    flagged = flagged.str.rstrip(", ")
    text += np.where(flagged != "", " " + words["flags_head"] + flagged + ".", "")
    return text.astype("str")


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
