"""The French nomenclatures the warehouse codes refer to (CIM-10, CCAM, UCD/ATC, PMSI unit types).

The files ship with the package (``workbench/resources/vocab``, with their
provenance README and licences) so a clone or an installed wheel works alone;
``--vocab`` or ``$WORKBENCH_VOCAB`` points to another folder with the same file
names, e.g. newer releases. The demo generator draws its codes from them and the
quality checks test conformance against them, so both must read them the same
way: through the cached loaders below.

Loaders return fresh copies (the cache keeps the parsed original), so callers
may filter or add columns freely. A missing or unreadable file raises a
:class:`UserError` naming it.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path

import pandas as pd

from workbench import paths
from workbench.errors import UserError

CIM10_FILE = "cim10_fr.csv.gz"
CCAM_FILE = "ccam_actes.json.gz"
UCD_FILE = "ucd_drugs.json.gz"
UNIT_TYPES_FILE = "mco_unit_types.json.gz"

#: CIM-10 ``type`` of a code that may be used in coding (3 = category header).
CODABLE = 0


def _file(vocab: Path | None, name: str) -> Path:
    """Resolve one nomenclature file, failing with a message that names it."""
    folder = paths.vocab_path(vocab)
    path = folder / name
    if not path.is_file():
        raise UserError(
            f"Nomenclature introuvable : {path} (fichier {name} attendu ; "
            "indiquer le dossier avec --vocab ou $WORKBENCH_VOCAB)"
        )
    return path


def _read_json(path: Path) -> pd.DataFrame:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return pd.DataFrame(json.load(handle))
    except (OSError, ValueError) as error:
        raise UserError(f"Nomenclature illisible : {path} ({error})") from error


def _require(frame: pd.DataFrame, path: Path, fields: tuple[str, ...]) -> pd.DataFrame:
    """Fail with the file and the missing fields rather than a bare KeyError later."""
    missing = [name for name in fields if name not in frame.columns]
    if missing:
        raise UserError(f"Nomenclature {path} : champs manquants {missing}")
    return frame


@lru_cache(maxsize=8)
def _cim10(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype={"code": str, "type": "int64"}, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise UserError(f"Nomenclature illisible : {path} ({error})") from error
    return _require(frame, path, ("code", "type", "long", "short")).rename(columns={"long": "label", "short": "short_label"})


@lru_cache(maxsize=8)
def _json_vocab(path: Path, fields: tuple[str, ...]) -> pd.DataFrame:
    return _require(_read_json(path), path, fields)


CCAM_FIELDS = ("code", "libelle_long", "libelle_court", "compatibilite_sexe", "date_debut")
UCD_FIELDS = ("code_ucd", "libelle_long_ucd", "code_atc", "libelle_atc", "libelle_forme")
UNIT_FIELDS = ("code_um", "libelle_code_um", "libelle_code_um_abrege", "type_hospitalisation", "flag_rea_si_sc", "discipline_sae")


def cim10(vocab: Path | None = None) -> pd.DataFrame:
    """Every CIM-10 FR code (headers included): code, type, label, short_label, ssr, psy."""
    return _cim10(_file(vocab, CIM10_FILE)).copy()


def cim10_codable(vocab: Path | None = None) -> pd.DataFrame:
    """CIM-10 codes usable in PMSI coding (type 0), without the ATIH ``+`` extensions.

    Extension codes such as ``C189+0`` are valid in the French modification but
    AP-HP stores codes without punctuation, so the generator keeps to plain codes.
    """
    frame = cim10(vocab)
    plain = frame["code"].str.fullmatch(r"[A-Z][0-9A-Z]{2,5}")
    return frame[(frame["type"] == CODABLE) & plain][["code", "label"]].reset_index(drop=True)


def cim10_codes(vocab: Path | None = None) -> frozenset[str]:
    """The set of CIM-10 codes that exist (any type): what a conformance check tests against."""
    return frozenset(_cim10(_file(vocab, CIM10_FILE))["code"])


def ccam(vocab: Path | None = None) -> pd.DataFrame:
    """CCAM acts: code, label, sex (``0`` both, ``1`` men only, ``2`` women only), start date."""
    frame = _json_vocab(_file(vocab, CCAM_FILE), CCAM_FIELDS)
    return pd.DataFrame(
        {
            "code": frame["code"].astype(str),
            "label": frame["libelle_long"].astype(str),
            "short_label": frame["libelle_court"].astype(str),
            "sex": frame["compatibilite_sexe"].astype(str),
            "start_date": frame["date_debut"].astype(str),
        }
    )


def ccam_codes(vocab: Path | None = None) -> frozenset[str]:
    """The set of CCAM codes that exist."""
    return frozenset(_json_vocab(_file(vocab, CCAM_FILE), CCAM_FIELDS)["code"])


def ucd(vocab: Path | None = None) -> pd.DataFrame:
    """UCD drug units: ucd (7 digits), label, atc (may be empty), atc_label, form."""
    frame = _json_vocab(_file(vocab, UCD_FILE), UCD_FIELDS)
    return pd.DataFrame(
        {
            "ucd": frame["code_ucd"].astype(str),
            "label": frame["libelle_long_ucd"].astype(str),
            "atc": frame["code_atc"].fillna("").astype(str),
            "atc_label": frame["libelle_atc"].fillna("").astype(str),
            "form": frame["libelle_forme"].fillna("").astype(str),
        }
    )


def ucd_codes(vocab: Path | None = None) -> frozenset[str]:
    """The set of UCD codes that exist."""
    return frozenset(_json_vocab(_file(vocab, UCD_FILE), UCD_FIELDS)["code_ucd"].astype(str))


def unit_types(vocab: Path | None = None) -> pd.DataFrame:
    """PMSI MCO medical unit types: code, label, short_label, hospitalisation (HC/HP), intensive flag."""
    frame = _json_vocab(_file(vocab, UNIT_TYPES_FILE), UNIT_FIELDS)
    return pd.DataFrame(
        {
            "code": frame["code_um"].astype(str),
            "label": frame["libelle_code_um"].astype(str),
            "short_label": frame["libelle_code_um_abrege"].astype(str),
            "hospitalisation": frame["type_hospitalisation"].astype(str),
            "intensive": frame["flag_rea_si_sc"].fillna(0).astype(int) == 1,
            "discipline": frame["discipline_sae"].astype(str),
        }
    )


def clear_cache() -> None:
    """Forget parsed files (after the vocabulary folder changed on disk)."""
    _cim10.cache_clear()
    _json_vocab.cache_clear()
