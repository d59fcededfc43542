"""The flaw manifest: which rows were made wrong on purpose, by which rule, at which rate.

Quality checks are measured for recall against this manifest, so it must be
exact: a flaw lists the primary keys of the rows it touched (or, for a feed
flaw, the hospital and months concerned), and a row never carries two flaws
(each table keeps a mask of rows already taken).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Flaw:
    id: str
    table: str
    description: str
    rate: float | None = None
    row_ids: list[int] = field(default_factory=list)
    scope: dict | None = None

    def as_json(self) -> dict:
        entry: dict = {"id": self.id, "table": self.table, "description": self.description}
        if self.scope is not None:
            entry["scope"] = self.scope
        else:
            entry["rate"] = self.rate
            entry["row_ids"] = sorted(self.row_ids)
        return entry


#: Row flaws: id -> (table, rate, description). The rate applies to the eligible rows named in the description.
ROW_FLAWS: dict[str, tuple[str, float, str]] = {
    "duplicate_identity": ("person_identity", 0.005, "Identité dupliquée : même nom, prénom et date de naissance qu'un autre patient, person_id différent (lignes = les doublons)"),
    "sex_noise": ("person", 0.005, "Sexe saisi hors nomenclature : « male », « F » ou vide au lieu de m/f"),
    "birth_date_missing": ("person", 0.003, "Date de naissance absente"),
    "birth_date_implausible": ("person", 0.002, "Date de naissance aberrante : avant 1900 ou après le premier séjour du patient (parmi les patients sans poids ni taille mesurés)"),
    "stay_end_before_start": ("visit_occurrence", 0.002, "Séjour clos dont la date de sortie précède la date d'entrée"),
    "stay_end_missing_old": ("visit_occurrence", 0.01, "Séjour sans date de sortie, commencé plus de 90 jours avant l'extraction alors que le patient a des séjours plus récents (taux parmi ces séjours éligibles)"),
    "movement_outside_stay": ("visit_detail", 0.003, "Mouvement (PASS UF) daté hors des bornes de son séjour"),
    "measurement_outside_stay": ("measurement", 0.003, "Résultat de biologie daté hors des bornes de son séjour"),
    "event_after_death": ("visit_occurrence", 0.1, "Consultation datée après le décès du patient (taux parmi les patients décédés à l'hôpital)"),
    "unknown_cim10": ("condition_occurrence", 0.003, "Code diagnostic absent de la CIM-10"),
    "unknown_ccam": ("procedure_occurrence", 0.003, "Code d'acte absent de la CCAM"),
    "unknown_ucd": ("drug_exposure_prescription", 0.003, "Code UCD absent du référentiel"),
    "biology_wrong_unit": ("measurement", 0.05, "Créatinine rendue en mg/dL (valeur divisée par 88,4) au lieu de µmol/L (taux parmi les créatinines)"),
    "weight_implausible": ("measurement", 0.01, "Poids invraisemblable chez un adulte (×10, ex. 700 kg) (taux parmi les poids d'adultes)"),
    "height_implausible": ("measurement", 0.01, "Taille invraisemblable chez un adulte (25 à 40 cm) (taux parmi les tailles d'adultes)"),
    "year_end_split": ("visit_occurrence", 0.5, "Séjour à cheval sur le 31 décembre scindé administrativement en deux lignes à la fin de l'année (lignes = les deux parties ; taux parmi les séjours à cheval)"),
    "legacy_visit_id": ("visit_occurrence", 0.03, "NDA au format de l'ancien système (GLD + 9 chiffres) (taux parmi les séjours commencés avant 2019)"),
    "soft_deleted": ("visit_occurrence", 0.001, "Ligne supprimée logiquement (row_status_source_value = 'supprimé', delete_datetime renseigné)"),
}


class FlawLog:
    """Collects flagged rows across chunks and keeps one 'taken' mask per table and chunk."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.flaws: dict[str, Flaw] = {
            flaw_id: Flaw(flaw_id, table, description, rate) for flaw_id, (table, rate, description) in ROW_FLAWS.items()
        }
        self.feed: list[Flaw] = []
        self._taken: dict[str, np.ndarray] = {}

    def rate(self, flaw_id: str) -> float:
        return self.flaws[flaw_id].rate or 0.0

    def pick(self, rng: np.random.Generator, flaw_id: str, eligible: np.ndarray) -> np.ndarray:
        """Positions (in the chunk's table) of rows that get the flaw, never a row already flawed."""
        table = self.flaws[flaw_id].table
        taken = self._taken.setdefault(table, np.zeros(len(eligible), dtype=bool))
        if len(taken) != len(eligible):
            raise ValueError(f"flaw {flaw_id}: mask of {table} has {len(taken)} rows, eligible has {len(eligible)}")
        chosen = np.flatnonzero(eligible & ~taken & (rng.random(len(eligible)) < self.rate(flaw_id)))
        taken[chosen] = True
        return chosen

    def mark(self, table: str, positions: np.ndarray, size: int) -> None:
        """Reserve rows (e.g. those a structural flaw created) so no other flaw lands on them."""
        taken = self._taken.setdefault(table, np.zeros(size, dtype=bool))
        taken[positions] = True

    def taken(self, table: str, size: int) -> np.ndarray:
        return self._taken.setdefault(table, np.zeros(size, dtype=bool))

    def record(self, flaw_id: str, ids: np.ndarray) -> None:
        self.flaws[flaw_id].row_ids.extend(int(i) for i in ids)

    def next_chunk(self) -> None:
        """Row positions are per chunk: forget the masks."""
        self._taken.clear()

    def add_feed(self, flaw_id: str, table: str, description: str, care_site_id: int, months: list[str]) -> None:
        """A feed-level flaw: no row ids, a hospital (or AP-HP as a whole) and the months concerned."""
        self.feed.append(Flaw(flaw_id, table, description, scope={"care_site_id": care_site_id, "months": months}))

    def write(self, path: Path) -> None:
        entries = [flaw.as_json() for flaw in self.flaws.values()] + [flaw.as_json() for flaw in self.feed]
        path.write_text(json.dumps({"seed": self.seed, "flaws": entries}, ensure_ascii=False, indent=1), encoding="utf-8")
