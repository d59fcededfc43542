"""The wiki loader: the shipped wiki loads whole, and each malformed page is reported
with its page, field and line while the other indicators still load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbench.errors import UserError
from workbench.indicators.dictionary import load_dictionary
from workbench.paths import PROJECT_ROOT

WIKI = PROJECT_ROOT / "wiki"
SIXTEEN = {
    "nb_sejours", "journees", "dms", "ip_dms", "taux_occupation", "taux_ambulatoire", "rh7", "rh30",
    "passages_urgences", "taux_hospit_urgences", "part_entrees_urgences", "mortalite_hospitaliere",
    "case_mix", "file_active", "exhaustivite_codage", "completude_poids_taille",
}


@pytest.fixture
def wiki(tmp_path: Path) -> Path:
    """A private copy of the shipped wiki that a test may break."""
    return Path(shutil.copytree(WIKI, tmp_path / "wiki"))


def edit(wiki: Path, page: str, old: str, new: str) -> None:
    path = wiki / f"{page}.md"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in {page}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def line_of(wiki: Path, page: str, text: str) -> int:
    """The 1-based line of the first line of `page` that contains `text` (found by hand in the file)."""
    lines = (wiki / f"{page}.md").read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if text in line)


# --------------------------------------------------------------------------- the shipped wiki


def test_shipped_wiki_has_the_sixteen_indicators_and_no_error() -> None:
    dictionary = load_dictionary(WIKI)
    assert dictionary.errors == []
    assert set(dictionary.indicators) == SIXTEEN


def test_every_referent_named_by_a_page_is_listed_on_the_referents_page() -> None:
    dictionary = load_dictionary(WIKI)
    named = {page.definition.referent for page in dictionary.indicators.values()}
    assert named <= set(dictionary.referents)
    assert "Référent Pilote DIM" in dictionary.referents


def test_versioning_is_real_on_the_shipped_pages() -> None:
    dictionary = load_dictionary(WIKI)
    dms = dictionary.get("dms").definition
    assert [v.version for v in dms.versions] == ["1", "2", "3"]
    import datetime as dt

    assert dms.version_at(dt.date(2023, 6, 15)).version == "1"
    assert dms.version_at(dt.date(2024, 1, 1)).version == "2"
    assert dms.version_at(dt.date(2027, 1, 1)).version == "3"  # the MCO field only
    assert sum(len(p.definition.versions) > 1 for p in dictionary.indicators.values()) >= 2


def test_guide_minutes_home_and_sidebar_are_loaded_and_every_link_resolves() -> None:
    dictionary = load_dictionary(WIKI)
    names = set(dictionary.pages)
    assert {"Home", "_Sidebar", "Referents"} <= names
    assert len([n for n in names if n.startswith("Comptes-rendus/")]) >= 3
    assert {"Guide/Droits-d-acces", "Guide/Tableaux-de-bord", "Guide/Notebooks", "Guide/Ligne-de-commande"} <= names
    for name, page in dictionary.all_pages().items():
        for target in page.links:
            assert dictionary.resolve(target) is not None, f"{name}: [[{target}]]"


def test_links_resolve_by_name_or_file_name_ignoring_case_and_dashes() -> None:
    dictionary = load_dictionary(WIKI)
    assert dictionary.resolve("dms") == "Indicateurs/dms"
    assert dictionary.resolve("droits d acces") == "Guide/Droits-d-acces"
    assert dictionary.resolve("Comptes-rendus/2023-11-14") == "Comptes-rendus/2023-11-14"
    assert dictionary.resolve("Page qui n'existe pas") is None


def test_every_indicator_page_documents_the_common_pitfalls() -> None:
    dictionary = load_dictionary(WIKI)
    for page in dictionary.indicators.values():
        body = page.body.lower()
        for topic in ("fin d'exercice", "arem", "non clos", "séances", "petits effectifs"):
            assert topic in body, f"{page.name} ne parle pas de « {topic} »"


def test_unknown_id_is_a_user_error_with_close_matches() -> None:
    dictionary = load_dictionary(WIKI)
    with pytest.raises(UserError, match=r"'dsm'.*dms"):
        dictionary.get("dsm")


# --------------------------------------------------------------------------- malformed pages


def only_error(wiki: Path):
    dictionary = load_dictionary(wiki)
    assert len(dictionary.errors) == 1, dictionary.errors
    assert len(dictionary.indicators) == 15, "the other indicators still load"
    return dictionary, dictionary.errors[0]


def test_yaml_that_does_not_parse_names_page_and_line(wiki: Path) -> None:
    edit(wiki, "Indicateurs/journees", "unit: journées\n", "unit: journées: par séjour\n")
    dictionary, error = only_error(wiki)
    assert error.page == "Indicateurs/journees"
    assert error.line == line_of(wiki, "Indicateurs/journees", "unit: journées: par séjour")
    assert "YAML" in error.message
    assert "journees" not in dictionary.indicators


def test_missing_field_names_the_field(wiki: Path) -> None:
    edit(wiki, "Indicateurs/rh7", "referent: Référent Parcours et Qualité\n", "")
    _, error = only_error(wiki)
    assert (error.page, error.field) == ("Indicateurs/rh7", "referent")
    assert error.message == "champ obligatoire manquant"
    assert error.line == 2  # the first line of the front matter: the field has no line of its own


def test_missing_nested_field_points_at_its_version(wiki: Path) -> None:
    edit(wiki, "Indicateurs/passages_urgences", "    change: Création de l'indicateur.\n", "")
    _, error = only_error(wiki)
    assert error.field == "versions[0].change"
    assert error.line == line_of(wiki, "Indicateurs/passages_urgences", '  - version: "1"')


def test_unknown_field_names_field_and_line(wiki: Path) -> None:
    edit(wiki, "Indicateurs/file_active", "status: validated\n", "status: validated\nowner: DIM\n")
    _, error = only_error(wiki)
    assert (error.page, error.field) == ("Indicateurs/file_active", "owner")
    assert error.line == line_of(wiki, "Indicateurs/file_active", "owner: DIM")
    assert "champ inconnu" in error.message


def test_unknown_filter_operator_is_located_in_the_computation(wiki: Path) -> None:
    edit(wiki, "Indicateurs/nb_sejours", "{column: stay_category, op: in,", "{column: stay_category, op: among,")
    _, error = only_error(wiki)
    assert error.field == "versions[0].computation.filters[0].op"
    assert error.line == line_of(wiki, "Indicateurs/nb_sejours", "op: among")


def test_overlapping_versions_point_at_the_later_version(wiki: Path) -> None:
    edit(wiki, "Indicateurs/dms", "    effective_to: 2023-12-31\n", "    effective_to: 2024-06-30\n")
    _, error = only_error(wiki)
    assert (error.page, error.field) == ("Indicateurs/dms", "versions[1].effective_from")
    assert error.line == line_of(wiki, "Indicateurs/dms", "effective_from: 2024-01-01")
    assert "chevauchent" in error.message


def test_ratio_unit_without_denominator_is_refused(wiki: Path) -> None:
    page = "Indicateurs/taux_ambulatoire"
    edit(wiki, page, "denominator: Séjours chirurgicaux (GHM de type C ou K) sortis dans la période, séances exclues\n",
         "denominator: null\n")
    edit(wiki, page, "      denominator: {agg: count}\n", "")
    dictionary = load_dictionary(wiki)
    assert {(e.page, e.field, e.line) for e in dictionary.errors} == {
        (page, "denominator", line_of(wiki, page, "denominator: null")),
        (page, "versions[0].computation.denominator", line_of(wiki, page, "    computation:")),
    }
    assert len(dictionary.indicators) == 15


def test_id_must_match_the_file_name(wiki: Path) -> None:
    edit(wiki, "Indicateurs/rh30", "id: rh30\n", "id: rh_30\n")
    _, error = only_error(wiki)
    assert (error.field, error.line) == ("id", 2)
    assert "rh30.md" in error.message


def test_duplicated_key_is_reported_with_its_second_line(wiki: Path) -> None:
    edit(wiki, "Indicateurs/case_mix", "theme: Activité\n", "theme: Activité\ntheme: Qualité\n")
    _, error = only_error(wiki)
    assert (error.field, error.line) == ("theme", line_of(wiki, "Indicateurs/case_mix", "theme: Qualité"))


def test_indicator_page_without_front_matter(wiki: Path) -> None:
    (wiki / "Indicateurs" / "brouillon.md").write_text("# Un indicateur sans en-tête\n", encoding="utf-8")
    dictionary = load_dictionary(wiki)
    assert [(e.page, e.line) for e in dictionary.errors] == [("Indicateurs/brouillon", 1)]
    assert len(dictionary.indicators) == 16


def test_unclosed_front_matter(wiki: Path) -> None:
    path = wiki / "Indicateurs" / "journees.md"
    path.write_text(path.read_text(encoding="utf-8").replace("\n---\n# Journées", "\n# Journées", 1), encoding="utf-8")
    _, error = only_error(wiki)
    assert (error.page, error.line) == ("Indicateurs/journees", 1)
    assert "jamais fermé" in error.message


def test_several_broken_pages_are_all_reported(wiki: Path) -> None:
    edit(wiki, "Indicateurs/rh7", "referent: Référent Parcours et Qualité\n", "")
    edit(wiki, "Indicateurs/file_active", "status: validated\n", "status: validated\nowner: DIM\n")
    dictionary = load_dictionary(wiki)
    assert {e.page for e in dictionary.errors} == {"Indicateurs/rh7", "Indicateurs/file_active"}
    assert len(dictionary.indicators) == 14


def test_error_text_names_page_line_and_field(wiki: Path) -> None:
    edit(wiki, "Indicateurs/file_active", "status: validated\n", "status: validated\nowner: DIM\n")
    _, error = only_error(wiki)
    assert str(error).startswith(f"Indicateurs/file_active, ligne {error.line}, champ « owner » : ")


def test_referents_page_without_list_is_an_error(wiki: Path) -> None:
    edit(wiki, "Referents", "referents:\n", "responsables:\n")
    dictionary = load_dictionary(wiki)
    assert [(e.page, e.field) for e in dictionary.errors] == [("Referents", "referents")]
    assert dictionary.referents == {}


def test_missing_wiki_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="introuvable"):
        load_dictionary(tmp_path / "absent")
