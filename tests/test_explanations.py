"""Explanations, word for word, in both languages; the criteria table against the counts."""

import pytest
from casebook import crm_rows, load_cases

CASES = load_cases()

EXPECTED = {
    "fr": {
        "P13": "Segment A. Critères A remplis (2 sur 2 requis) : Actifs sous gestion 450 000 $ "
               "> 400 000 $ (couple); Revenu annuel au moins 260 000 $ > 250 000 $ (couple). "
               "À vérifier : chiffres partiels (une valeur manque : membre ou compte).",
        "P21": "Segment A imposé par le conseiller (Associé du cabinet); segment calculé C. "
               "Critères C remplis (2 sur 2 requis) : Actifs sous gestion 120 000 $ > "
               "100 000 $ (individuel); Revenu annuel 80 000 $ > 75 000 $ (individuel).",
        "P06": "Segment B+ (potentiel A). Critères B remplis (1 sur 1 requis) : Profession : "
               "médecin résident. Potentiel A : profession qui mène au segment A.",
    },
    "en": {
        "P13": "Segment A. A characteristics met (2 of 2 needed): Assets under management "
               "$450,000 > $400,000 (couple); Annual income at least $260,000 > $250,000 "
               "(couple). To review: partial figures (a member's or an account's value is "
               "missing).",
        "P21": "Segment A set by the advisor (Associé du cabinet); computed segment C. "
               "C characteristics met (2 of 2 needed): Assets under management $120,000 > "
               "$100,000 (individual); Annual income $80,000 > $75,000 (individual).",
        "P06": "Segment B+ (potential A). B characteristics met (1 of 1 needed): Occupation: "
               "resident physician. Potential for A: an occupation that leads to A.",
    },
}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_reasons_word_for_word(week, language):
    week.crm(crm_rows(CASES["households"]))
    week.rules(**{"a_cap": {}, "potential.value_band": False, "language": language})
    week.run(CASES["as_of_date"])
    reasons = week.table("client_segments").set_index("household_id")["reasons"]
    for hid, text in EXPECTED[language].items():
        assert reasons[hid] == text


def test_money_formats():
    import pandas as pd

    from segmentation.explain import format_money

    cents = pd.Series([41200000, 123456, 5, -250000000, None], dtype="Int64")
    assert format_money(cents, "fr").tolist()[:4] == ["412 000 $", "1 234,56 $", "0,05 $",
                                                       "-2 500 000 $"]
    assert format_money(cents, "en").tolist()[:4] == ["$412,000", "$1,234.56", "$0.05",
                                                       "-$2,500,000"]
    assert pd.isna(format_money(cents, "fr").iloc[4])


def test_explain_command_in_both_languages(week, capsys):
    from pipelines.cli import main

    week.crm(crm_rows(CASES["households"])).rules(a_cap={})
    week.run(CASES["as_of_date"])
    assert main(["explain", "P13", "--week", "2026-11-30"]) == 0
    french = capsys.readouterr().out
    assert "Ménage P13, semaine du 2026-11-30" in french
    assert "A : 2 sur 2 requis  <- segment calculé" in french
    assert "[x] Actifs sous gestion 450 000 $ > 400 000 $ (couple)" in french
    assert main(["explain", "P21", "--lang", "en"]) == 0
    english = capsys.readouterr().out
    assert "Segment A set by the advisor (Associé du cabinet); computed segment C." in english
    assert "C: 2 of 2 needed  <- computed tier" in english
    assert main(["explain", "NOPE"]) == 1
