"""The three validation stages: the shipped wiki passes all of them on the demo
warehouse, and stage b catches each kind of wrong name on a broken copy of a page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.validation import check_names, check_syntax, validate
from workbench.paths import PROJECT_ROOT

WIKI = PROJECT_ROOT / "wiki"


@pytest.fixture(scope="module")
def warehouse(demo_dir: Path):
    from workbench.warehouse import open as open_warehouse

    return open_warehouse(catalog=demo_dir / "catalog.yaml")


@pytest.fixture
def wiki(tmp_path: Path) -> Path:
    return Path(shutil.copytree(WIKI, tmp_path / "wiki"))


def edit(wiki: Path, page: str, old: str, new: str) -> int:
    """Replace `old` (once) in the page; returns the 1-based line where `new` starts."""
    path = wiki / f"{page}.md"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in {page}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def stage_b_errors(wiki: Path, warehouse, page: str) -> list:
    dictionary = load_dictionary(wiki)
    assert dictionary.errors == []
    outcomes = {o.page: o for o in check_names(dictionary, warehouse)}
    assert all(o.ok for name, o in outcomes.items() if name != page), "only the broken page fails"
    return list(outcomes[page].errors)


# --------------------------------------------------------------------------- the shipped wiki


def test_shipped_wiki_passes_the_three_stages_on_the_demo_warehouse(warehouse) -> None:
    report = validate(load_dictionary(WIKI), warehouse)
    assert report.errors() == []
    assert len(report.stage("noms")) == 16
    assert len(report.stage("exécution")) == 16
    assert report.ok


def test_stage_a_reports_a_broken_link_with_its_line(wiki: Path) -> None:
    line = edit(wiki, "Guide/Notebooks", "Voir aussi [[Ligne-de-commande]].", "Voir aussi [[Page-fantome]].")
    outcomes = {o.page: o for o in check_syntax(load_dictionary(wiki))}
    (error,) = outcomes["Guide/Notebooks"].errors
    assert (error.field, error.line) == ("lien", line)
    assert "Page-fantome" in error.message
    assert sum(not o.ok for o in outcomes.values()) == 1


def test_stage_a_failure_skips_the_page_in_later_stages(wiki: Path, warehouse) -> None:
    edit(wiki, "Indicateurs/rh7", "referent: Référent Parcours et Qualité\n", "")
    report = validate(load_dictionary(wiki), warehouse, stages=("syntaxe", "noms"))
    failed = {o.page: o for o in report.stage("syntaxe") if not o.ok}
    assert [e.field for e in failed["Indicateurs/rh7"].errors] == ["referent"]
    assert "[[rh7]]" in failed["Home"].errors[0].message  # pages linking to it now have a broken link
    assert "Indicateurs/rh7" not in {o.page for o in report.stage("noms")}


# --------------------------------------------------------------------------- stage b on broken copies


def test_unknown_column_in_a_filter(wiki: Path, warehouse) -> None:
    line = edit(wiki, "Indicateurs/nb_sejours", "{column: stay_category, op: in,", "{column: stay_kind, op: in,")
    (error,) = stage_b_errors(wiki, warehouse, "Indicateurs/nb_sejours")
    assert error.field == "versions[0].computation.filters[0].column"
    assert error.line == line
    assert "stay_kind" in error.message and "stays" in error.message


def test_unknown_measure_column(wiki: Path, warehouse) -> None:
    line = edit(wiki, "Indicateurs/journees", "numerator: {agg: sum, column: nights}", "numerator: {agg: sum, column: nuits}")
    (error,) = stage_b_errors(wiki, warehouse, "Indicateurs/journees")
    assert (error.field, error.line) == ("versions[0].computation.numerator.column", line)


def test_unknown_source_column(wiki: Path, warehouse) -> None:
    line = edit(wiki, "Indicateurs/dms", "columns: [stay_category, stay_type, nights, end_date, is_open,",
                "columns: [stay_category, stay_type, duree, end_date, is_open,")
    (error,) = stage_b_errors(wiki, warehouse, "Indicateurs/dms")
    assert (error.field, error.line) == ("sources[0].columns[2]", line)


def test_unknown_view(wiki: Path, warehouse) -> None:
    line = edit(wiki, "Indicateurs/passages_urgences", "      view: stays\n", "      view: sejours\n")
    (error,) = stage_b_errors(wiki, warehouse, "Indicateurs/passages_urgences")
    assert (error.field, error.line) == ("versions[0].computation.view", line)
    assert "sejours" in error.message


def test_dimension_the_view_cannot_give(wiki: Path, warehouse) -> None:
    edit(wiki, "Indicateurs/file_active", "      view: stays\n      period_column: start_date\n      numerator:",
         "      view: patients\n      period_column: birth_date\n      numerator:")
    errors = stage_b_errors(wiki, warehouse, "Indicateurs/file_active")
    fields = {e.field for e in errors}
    # `patients` has sex but no care-site, stay-type, visit-type or age-band column
    assert fields == {f"dimensions[{i}]" for i in (0, 1, 2, 3, 7, 8, 9)}


def test_unknown_referent(wiki: Path, warehouse) -> None:
    line = edit(wiki, "Indicateurs/mortalite_hospitaliere", "referent: Référent Pilote DIM\n", "referent: Référent Mortalité\n")
    (error,) = stage_b_errors(wiki, warehouse, "Indicateurs/mortalite_hospitaliere")
    assert (error.field, error.line) == ("referent", line)
    assert "Référent Mortalité" in error.message and "Referents" in error.message


def test_unknown_implementation(wiki: Path, warehouse) -> None:
    line = edit(wiki, "Indicateurs/ip_dms", "      implementation: ip_dms\n", "      implementation: ip_dms_v2\n")
    (error,) = stage_b_errors(wiki, warehouse, "Indicateurs/ip_dms")
    assert (error.field, error.line) == ("versions[0].computation.implementation", line)
    assert "ip_dms_v2" in error.message


def test_unknown_implementation_parameter(wiki: Path, warehouse) -> None:
    line = edit(wiki, "Indicateurs/taux_hospit_urgences", "params: {window_hours: 24}", "params: {fenetre: 24}")
    (error,) = stage_b_errors(wiki, warehouse, "Indicateurs/taux_hospit_urgences")
    assert (error.field, error.line) == ("versions[0].computation.params", line)
    assert "fenetre" in error.message


def test_unknown_quality_check(wiki: Path, warehouse) -> None:
    line = edit(wiki, "Indicateurs/journees", "  - measureValueCompleteness:stays.end_datetime\n",
                "  - measureValueCompleteness:stays.duree\n")
    (error,) = stage_b_errors(wiki, warehouse, "Indicateurs/journees")
    assert (error.field, error.line) == ("quality_checks[1]", line)
    assert "stays.duree" in error.message


# --------------------------------------------------------------------------- stage c


def test_stage_c_reports_a_failing_computation(wiki: Path, warehouse) -> None:
    edit(wiki, "Indicateurs/case_mix", "params: {axis: cmd}", "params: {axis: specialite}")
    report = validate(load_dictionary(wiki), warehouse)
    failed = [o for o in report.outcomes if not o.ok]
    assert [(o.stage, o.page) for o in failed] == [("exécution", "Indicateurs/case_mix")]
    (error,) = failed[0].errors
    assert "axis" in error.message
    assert error.field == "versions[0].computation"


def test_stage_c_runs_older_versions_too(wiki: Path, warehouse) -> None:
    line = edit(wiki, "Indicateurs/file_active",
                "        - {column: stay_category, op: in, value: [hospitalisation_complete, ambulatoire, seance]}\n",
                "        - {column: stay_category, op: gt, value: 3}\n")
    report = validate(load_dictionary(wiki), warehouse)
    failed = [o for o in report.outcomes if not o.ok]
    assert [(o.stage, o.page) for o in failed] == [("exécution", "Indicateurs/file_active")]
    (error,) = failed[0].errors
    assert error.field == "versions[0].computation"
    assert error.line == line - 5  # the `computation:` line of version 1, five lines above its filter
    assert error.message.startswith("version 1 : le calcul échoue")
