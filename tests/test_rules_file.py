"""The rules file: validated on load, a typo or an impossible value named by its key."""

from importlib import resources

import pytest
import yaml

from segmentation.rules import RulesError, load_rules


def _write(tmp_path, change):
    data = yaml.safe_load(resources.files("segmentation").joinpath("rules.yaml")
                          .read_text("utf-8"))
    change(data)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return path


@pytest.mark.parametrize("change, key", [
    (lambda d: d["tiers"]["A"].update(neded=2), "tiers.A.neded"),
    (lambda d: d["tiers"]["C"]["more_than"]["aum"].update(couple=-5), "tiers.C.more_than.aum"),
    (lambda d: d["tiers"]["B"].update(needed=0), "tiers.B.needed"),
    (lambda d: d["a_cap"].update(share=1.5), "a_cap.share"),
    (lambda d: d["behaviour"].update(window_months="twelve"), "behaviour.window_months"),
    (lambda d: d["tiers"]["A"]["occupations"].append("astronaut"), "tiers.A.occupations"),
    (lambda d: d.update(order=["A", "B", "C", "D"]), "order"),
    (lambda d: d["targets"].update(A=[0.2, 0.1]), "targets.A"),
    (lambda d: d["quality"].update(max_left_out_share=2), "quality.max_left_out_share"),
    (lambda d: d.update(timezone="Mars/Olympus"), "timezone"),
    (lambda d: d["tiers"]["A"].update(needed=99), "tiers.A"),
    (lambda d: d["tiers"]["A"].update(needed=True), "tiers.A.needed"),
    (lambda d: d["value_weights"].update(aum=float("nan")), "value_weights.aum"),
    (lambda d: d["vocabulary"]["tag"]["unfriendly"].append("Courtois"), "vocabulary"),
    (lambda d: d["occupations"][0]["phrases"].append("!!!"), "occupations.0"),
])
def test_a_bad_rules_file_names_the_key(tmp_path, change, key):
    path = _write(tmp_path, change)
    with pytest.raises(RulesError) as error:
        load_rules(path)
    assert key in str(error.value)


def test_the_environment_names_the_rules_file(tmp_path, monkeypatch):
    path = _write(tmp_path, lambda d: d.update(language="en"))
    monkeypatch.setenv("SEGMENTATION_RULES", str(path))
    rules = load_rules()
    assert rules.language == "en"


def test_digest_follows_the_rules(tmp_path):
    same = load_rules(_write(tmp_path, lambda d: None))
    other = load_rules(_write(tmp_path, lambda d: d["tiers"]["A"].update(needed=3)))
    assert same.digest == load_rules().digest
    assert other.digest != same.digest


def test_a_run_with_a_bad_rules_file_fails_with_the_key(week, tmp_path, monkeypatch):
    from casebook import crm_rows

    week.crm(crm_rows([{"id": "H1", "type": "individual"}]))
    monkeypatch.setenv("SEGMENTATION_RULES",
                       str(_write(tmp_path, lambda d: d["a_cap"].update(shares=0.1))))
    result = week.run("2026-11-30", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "a_cap.shares" in str(failure.step_failure_data.error)


def test_a_key_written_twice_is_refused(tmp_path):
    path = tmp_path / "rules.yaml"
    text = resources.files("segmentation").joinpath("rules.yaml").read_text("utf-8")
    path.write_text(text + "\nlanguage: en\n", "utf-8")
    with pytest.raises(RulesError, match="the key 'language' is written twice"):
        load_rules(path)
