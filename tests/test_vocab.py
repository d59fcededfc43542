"""Loading the French nomenclatures: known entries, codable filter, copies, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbench import vocab
from workbench.errors import UserError


def test_cim10_codable_keeps_type_0_plain_codes(vocab_dir):
    codable = vocab.cim10_codable(vocab_dir).set_index("code")["label"]
    assert codable["E1190"] == "Diabète sucré de type 2 insulinotraité, sans complication"
    assert codable["A000"] == "Choléra à Vibrio cholerae 01, biovar cholerae"
    assert "E119" not in codable  # type 3 header
    assert "A00" not in codable
    assert "C189+0" not in codable  # ATIH extension with punctuation
    every = vocab.cim10_codes(vocab_dir)
    assert {"E119", "A00", "C189+0", "E1190"} <= every
    assert len(every) == 42_886


def test_ccam_ucd_and_unit_types(vocab_dir):
    ccam = vocab.ccam(vocab_dir).set_index("code")
    assert ccam.loc["AAFA001", "sex"] == "0"
    assert ccam.loc["AAFA001", "label"] == "Exérèse de tumeur intraparenchymateuse du cervelet, par craniotomie"
    assert set(ccam["sex"]) == {"0", "1", "2"}
    assert "AAFA001" in vocab.ccam_codes(vocab_dir) and len(vocab.ccam_codes(vocab_dir)) == 8_593
    ucd = vocab.ucd(vocab_dir).set_index("ucd")
    assert ucd.loc["9009994", "atc"] == "L01AD02" and ucd.loc["9009994", "label"] == "BELUSTINE 40 mg"
    assert "9009994" in vocab.ucd_codes(vocab_dir)
    units = vocab.unit_types(vocab_dir).set_index("code")
    assert bool(units.loc["01A", "intensive"]) and not bool(units.loc["29", "intensive"])
    assert units.loc["07A", "short_label"] == "UHCD AD" and units.loc["21", "hospitalisation"] == "HP"


def test_loaders_return_copies(vocab_dir):
    first = vocab.ccam(vocab_dir)
    first.loc[0, "code"] = "CHANGED"
    assert vocab.ccam(vocab_dir).loc[0, "code"] == "AAFA001"
    whole = vocab.cim10(vocab_dir)
    del whole["label"]  # in place, on the returned object itself: the cached frame must not lose it
    assert "label" in vocab.cim10(vocab_dir).columns and len(vocab.cim10_codable(vocab_dir)) > 10_000


def test_missing_file_names_it(tmp_path, vocab_dir):
    with pytest.raises(UserError, match="ucd_drugs.json.gz"):
        vocab.ucd(tmp_path)
    with pytest.raises(UserError, match="cim10_fr.csv.gz"):
        vocab.cim10_codable(tmp_path)


def test_unreadable_file_is_a_user_error(tmp_path):
    (tmp_path / "ccam_actes.json.gz").write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match="ccam_actes.json.gz"):
        vocab.ccam(tmp_path)


def test_environment_variable_points_to_the_folder(tmp_path, vocab_dir, monkeypatch):
    shutil.copy(vocab_dir / "mco_unit_types.json.gz", tmp_path / "mco_unit_types.json.gz")
    monkeypatch.setenv("WORKBENCH_VOCAB", str(tmp_path))
    assert len(vocab.unit_types()) == 45
    with pytest.raises(UserError, match=str(Path(tmp_path) / "cim10_fr.csv.gz")):
        vocab.cim10()


def test_file_missing_a_field_is_a_user_error(tmp_path):
    import gzip
    import json

    with gzip.open(tmp_path / "ucd_drugs.json.gz", "wt", encoding="utf-8") as handle:
        json.dump([{"code_ucd": "1234567", "libelle_long_ucd": "X"}], handle)
    with pytest.raises(UserError, match=r"ucd_drugs.json.gz : champs manquants \['code_atc', 'libelle_atc', 'libelle_forme'\]"):
        vocab.ucd(tmp_path)
