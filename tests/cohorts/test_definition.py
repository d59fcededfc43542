"""Cohort definitions: YAML/JSON files, errors that name the criterion's path, saved versions per user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cohorts.definition import load_definition, parse_definition
from workbench.cohorts.store import CohortStore
from workbench.errors import UserError

from cohorts.fixtures import IMA_YAML

BASE = {"nom": "ima", "entree": {"type": "diagnostic", "codes": ["I21"], "statut": ["DP"]}}


def rules(*criteria: dict) -> dict:
    return {**BASE, "inclusion": [{"nom": f"r{k}", "criteres": [c]} for k, c in enumerate(criteria)]}


def test_a_yaml_file_and_its_json_twin_give_the_same_definition(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(IMA_YAML, encoding="utf-8")
    from_yaml = load_definition(tmp_path / "c.yaml")
    (tmp_path / "c.json").write_text(json.dumps(from_yaml.model_dump(mode="json")), encoding="utf-8")
    assert load_definition(tmp_path / "c.json") == from_yaml
    assert from_yaml.inclusion[0].criteres[0].fenetre.meme_sejour is True
    assert str(from_yaml.periode.debut) == "2023-01-01"


@pytest.mark.parametrize(("data", "message"), [
    (rules({"type": "age", "min": 18}, {"type": "sexe", "valeur": "F"},
           {"type": "biologie", "codes": ["x"], "comparaison": ">", "valeur": "élevée", "unite": "g/L"}),
     r"inclusion\[2\]\.criteres\[0\]\.valeur : nombre attendu, pas 'élevée'"),
    (rules({"type": "imagerie", "codes": ["x"]}),
     r"inclusion\[0\]\.criteres\[0\] : type de critère « imagerie » inconnu \(types : diagnostic, acte"),
    (rules({"type": "biologie", "codes": ["x"], "comparaison": ">", "valeur": 3}),
     r"inclusion\[0\]\.criteres\[0\] : un seuil exige son unité"),
    (rules({"type": "groupe", "operateur": "OU", "criteres": [{"type": "age", "min": 50, "max": 20}]}),
     r"inclusion\[0\]\.criteres\[0\]\.criteres\[0\] : min \(50\) supérieur à max \(20\)"),
    (rules({"type": "tnm", "stade": ["T>=7"]}), r"inclusion\[0\]\.criteres\[0\]\.stade : stade 'T>=7' non reconnu"),
    (rules({"type": "texte", "termes": ["diab(ete"], "regex": True}), r"expression régulière invalide"),
    (rules({"type": "sexe", "valeur": "X"}), r"inclusion\[0\]\.criteres\[0\]\.valeur : valeur 'X' invalide"),
    (rules({"type": "diagnostic", "codes": ["I21"], "fenetre": {}}), r"fenetre : fenêtre vide"),
    (rules({"type": "diagnostic", "codes": ["I21"], "couleur": "rouge"}), r"criteres\[0\]\.couleur : clé inconnue"),
    ({**BASE, "entree": {"type": "age", "min": 18}}, r"entree : l'événement d'entrée doit être un critère daté"),
    ({**BASE, "entree": {"type": "diagnostic"}}, r"entree : indiquez des codes ou des concepts"),
    ({**BASE, "unite": "lits"}, r"unite : valeur 'lits' invalide"),
    ({**BASE, "periode": {"debut": "2025-01-01", "fin": "2024-01-01"}}, r"periode : début \(2025-01-01\) après fin"),
    ({"entree": BASE["entree"]}, r"nom : clé obligatoire absente"),
    ({**BASE, "nom": "../../etc"}, r"nom de cohorte '../../etc' invalide"),
])
def test_an_error_names_the_path_and_the_reason(data: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_definition(data)


def test_a_file_that_is_not_yaml_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("nom: [non fermé\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"c\.yaml : fichier illisible"):
        load_definition(bad)
    with pytest.raises(UserError, match="introuvable"):
        load_definition(tmp_path / "absent.yaml")


def test_normalised_criteria_ignore_code_order_and_name() -> None:
    a = parse_definition({**BASE, "entree": {"type": "diagnostic", "codes": ["I21", "I22"]}})
    b = parse_definition({**BASE, "nom": "autre", "entree": {"type": "diagnostic", "codes": ["i22", "I21"]}})
    c = parse_definition({**BASE, "entree": {"type": "diagnostic", "codes": ["I21"]}})
    assert a.digest() == b.digest() != c.digest()


def test_saved_versions_per_user(tmp_path: Path) -> None:
    store = CohortStore(tmp_path)
    first = store.save("alice", parse_definition(BASE))
    same = store.save("alice", parse_definition(BASE))
    changed = store.save("alice", parse_definition(rules({"type": "age", "min": 18})))
    assert (first.version, same.version, changed.version) == (1, 1, 2)
    assert store.get("alice", "ima").version == 2
    assert store.get("alice", "ima", 1).definition.inclusion == []
    assert [s.name for s in store.list("alice")] == ["ima"]
    with pytest.raises(UserError, match="cohorte « ima » introuvable pour l'utilisateur bob"):
        store.get("bob", "ima")
    with pytest.raises(UserError, match="version 3 introuvable"):
        store.get("alice", "ima", 3)
