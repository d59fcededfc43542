"""Orchestration of a demo build: validate, generate chunk by chunk, finalise, move into place.

Patients are generated in fixed-size chunks, each with its own random stream
derived from (seed, chunk number), so memory stays bounded and the content
depends only on the seed, the number of patients and the extraction date.
Everything is written into a temporary folder beside ``out`` and moved in at the
end, so a failed build leaves the previous warehouse (or nothing) behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from workbench import vocab as nomenclatures
from workbench.demo import biology, caresites, defects, drugs, forms, movements, notes, patients as patients_mod, pmsi, stays as stays_mod
from workbench.demo.calendar import Calendar
from workbench.demo.common import DAY, NAT, Cat, epoch_seconds, nullable_ids, timestamps
from workbench.demo.flaws import FlawLog
from workbench.demo.profiles import KIND_VISIT, KINDS, compile_profiles
from workbench.demo.writer import Warehouse, conform, schema
from workbench.errors import UserError
from workbench.snapshot import snapshot_id, warehouse_hashes

GENERATOR_VERSION = "1.1"  # 1.1: reports carry qualified findings (notes_truth.json)
HISTORY_START = date(2018, 1, 1)
#: Two years of history at least, so that the feed flaws (late start, stop) have room.
EARLIEST_EXTRACTION = date(2020, 1, 1)
CHUNK_PATIENTS = 25_000
ARTEFACTS = ("eds.duckdb", "parquet", "flaws.json", "notes_truth.json", "catalog.yaml")
#: Tables computed in SQL once the activity is loaded.
SQL_TABLES = ("care_site_capacity", "ghm_reference_dms", "_metadata")


@dataclass
class _Ids:
    """Next free primary key per table, carried across chunks."""

    next: dict[str, int] = field(default_factory=dict)

    def take(self, table: str, count: int) -> int:
        first = self.next.get(table, 1)
        self.next[table] = first + count
        return first


def _validate(out: Path, patients: int, seed: int, extraction_date: date) -> None:
    if patients < 1:
        raise UserError(f"--patients {patients} : le nombre de patients doit être au moins 1")
    if seed < 0:
        raise UserError(f"--seed {seed} : la graine doit être un entier positif ou nul")
    if extraction_date < EARLIEST_EXTRACTION:
        raise UserError(
            f"--extraction-date {extraction_date} : la date d'extraction doit être au plus tôt le {EARLIEST_EXTRACTION:%d/%m/%Y}"
            " (l'historique commence en janvier 2018)"
        )
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} : ce chemin existe et n'est pas un dossier")
    existing = out if out.exists() else next((p for p in out.parents if p.exists()), Path("/"))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise UserError(f"--out {out} : dossier de sortie non accessible en écriture ({existing})")


@contextmanager
def _steps(total: int, enabled: bool) -> Iterator[Callable[[str], None]]:
    """A rich progress bar over the generation steps (or nothing when disabled)."""
    if not enabled:
        yield lambda _description: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn()) as bar:
        task = bar.add_task("Entrepôt de démonstration", total=total)
        yield lambda description: bar.update(task, advance=1, description=description)


def _month_labels(first: int, last: int) -> list[str]:
    """'YYYY-MM' of every month from the month of ``first`` to that of ``last`` (seconds, inclusive)."""
    months = np.arange(np.datetime64(first, "s").astype("datetime64[M]"), np.datetime64(last, "s").astype("datetime64[M]") + 1)
    return [str(month) for month in months]


class _Generator:
    """Everything a chunk needs, built once per warehouse."""

    def __init__(self, seed: int, extraction_date: date, vocab: Path | None) -> None:
        codable = nomenclatures.cim10_codable(vocab)
        self.profiles = compile_profiles(codable, nomenclatures.ccam(vocab), nomenclatures.ucd(vocab))
        self._check_invalid_codes(vocab)
        units = nomenclatures.unit_types(vocab)
        self.now = epoch_seconds(extraction_date)
        self.start = epoch_seconds(HISTORY_START)
        self.seed = seed
        self.sites = caresites.build(dict(zip(units["code"], units["short_label"])), np.datetime64(HISTORY_START, "D"))
        self.calendar = Calendar.build(self.start, self.now)
        self.flaws = FlawLog(seed)
        self.notes_truth = notes.NotesTruth()
        self.ids = _Ids()
        self.plan = self._feed_plan(np.random.default_rng([seed, 999_999]))

    @staticmethod
    def _check_invalid_codes(vocab: Path | None) -> None:
        """The 'unknown code' flaws must use codes that really are unknown."""
        known = (nomenclatures.cim10_codes(vocab), nomenclatures.ccam_codes(vocab), nomenclatures.ucd_codes(vocab))
        for codes, invalid in zip(known, (pmsi.INVALID_CIM10, pmsi.INVALID_CCAM, drugs.INVALID_UCD)):
            clash = set(invalid) & codes
            if clash:
                raise RuntimeError(f"codes meant to be invalid exist in the vocabulary: {sorted(clash)}")

    def _feed_plan(self, rng: np.random.Generator) -> stays_mod.FeedPlan:
        late, stopped, silent = rng.permutation(len(self.sites.hospital_ids))[:3]
        deploy_month = np.datetime64(HISTORY_START, "M") + int(rng.integers(9, 22))
        stop_month = np.datetime64(self.now, "s").astype("datetime64[M]") - 2
        plan = stays_mod.FeedPlan(
            int(late), int(deploy_month.astype("datetime64[s]").astype(np.int64)),
            int(stopped), int(stop_month.astype("datetime64[s]").astype(np.int64)), int(silent),
        )
        hospital = self.sites.hospital_ids
        root = int(self.sites.care_site["care_site_id"][0])
        arem_from = self.now - pmsi.AREM_LAG_DAYS[1] * DAY
        for flaw_id, table, description, care_site, months in (
            ("feed_late_start", "visit_occurrence", "Hôpital dont le flux démarre tard (déploiement) : aucun séjour avant le mois de déploiement",
             hospital[plan.late_hospital], _month_labels(self.start, plan.deployed - DAY)),
            ("feed_stopped", "visit_occurrence", "Hôpital dont le flux s'arrête : aucun séjour depuis le début du mois indiqué jusqu'à l'extraction",
             hospital[plan.stopped_hospital], _month_labels(plan.stopped, self.now - 1)),
            ("hospital_no_deaths", "visit_occurrence", "Hôpital qui n'enregistre aucun décès (mode de sortie 9 jamais saisi)",
             hospital[plan.no_death_hospital], _month_labels(self.start, self.now - 1)),
            ("arem_lag", "condition_occurrence", f"Codage AREM absent ou partiel pour les séjours sortis moins de {pmsi.AREM_LAG_DAYS[1]} jours "
             "avant l'extraction (tous hôpitaux : AP-HP)", root, _month_labels(arem_from, self.now - 1)),
        ):
            self.flaws.add_feed(flaw_id, table, description, int(care_site), months)
        return plan

    def chunk(self, warehouse: Warehouse, index: int, first_person: int, n: int) -> None:
        """Generate the patients ``first_person``.. of chunk ``index``, with their activity and flaws, and append them."""
        rng = np.random.default_rng([self.seed, index])
        self.flaws.next_chunk()
        patients = patients_mod.generate(rng, n, first_person, self.now, self.sites.hospital_weights, self.flaws)
        context = stays_mod.Context(rng, self.now, self.start, self.calendar, self.profiles, len(self.sites.hospital_ids))
        stays, death = stays_mod.generate(context, patients, self.plan, self.flaws)
        tables = self._activity(rng, patients, stays, death)
        for name, rows in tables.items():
            warehouse.append(name, rows)
            if name not in ("person", "person_identity"):
                self.ids.take(name, len(next(iter(rows.values()))))

    def _activity(self, rng: np.random.Generator, patients: patients_mod.Patients, stays: stays_mod.Stays, death: np.ndarray) -> dict[str, dict]:
        """Every table of the chunk, flaws included, in the order they are generated."""
        stay_ids = self._next("visit_occurrence") + np.arange(len(stays), dtype=np.int64)
        ids = {"stay": stay_ids, "person": patients.person_id[stays.person]}
        age = (stays.start - patients.birth[stays.person]) / patients_mod.YEAR
        sex = patients.sex[stays.person].astype(np.int64)
        visit = self._visits(stays, ids)
        flawed = defects.visits(rng, visit, stays, self.now, self.flaws)
        segs = movements.segments(rng, stays, self.sites, self.profiles, self.now)
        detail, head = movements.table(rng, stays, stay_ids, ids["person"], segs, self.sites, self._next("visit_detail"))
        defects.movements(rng, detail, self._stay_of(detail["visit_occurrence_id"], stay_ids), stays, flawed, self.flaws)
        coding_row, discharge_unit = movements.discharge_segments(segs, head, len(stays))
        arem = pmsi.arem_available(rng, stays, self.now)
        conditions, coding = pmsi.conditions(rng, stays, ids, coding_row, age, arem, self.profiles, self._next("condition_occurrence"))
        procedures = pmsi.procedures(rng, stays, ids, coding_row, discharge_unit, sex, arem, self.profiles, self.now, self._next("procedure_occurrence"))
        cost = pmsi.cost(rng, stays, ids, age, self.profiles, self._next("cost"))
        measurement = biology.measurements(rng, stays, ids, age, sex, self.now, self._next("measurement"))
        measured_stay = self._stay_of(measurement["visit_occurrence_id"], stay_ids)
        defects.measurements(rng, measurement, measured_stay, stays, flawed, age[measured_stay] >= 18, self.flaws)
        measurement["value_source_value"] = biology.value_text(measurement["value_as_number"])
        prescriptions, administrations = drugs.generate(rng, stays, ids, self.profiles, self.now, self._next("drug_exposure_prescription"), self._next("drug_exposure_administration"))
        note = notes.generate(rng, stays, ids, coding, age, sex, self.profiles, self.now, self._next("note"), self.notes_truth)
        self._unknown_codes(rng, conditions, procedures, prescriptions)
        person = patients_mod.person_table(patients, death)
        measured = np.zeros(len(patients), dtype=bool)
        measured[stays.person[measured_stay[measurement["measurement_source_concept_id"] >= biology.LOCAL_CONCEPT_BASE + biology.WEIGHT]]] = True
        defects.person(rng, person, patients, self._first_starts(stays, len(patients)), measured, self.now, self.flaws)
        return {
            "person": person, "person_identity": patients_mod.identity_table(patients), "visit_occurrence": visit,
            "visit_detail": detail, "condition_occurrence": conditions, "procedure_occurrence": procedures, "cost": cost,
            "measurement": measurement, "drug_exposure_prescription": prescriptions, "drug_exposure_administration": administrations, "note": note,
            "formulaire": forms.generate(stays, ids, self.now, self._next("formulaire")),
        }

    def _unknown_codes(self, rng: np.random.Generator, conditions: dict, procedures: dict, prescriptions: dict) -> None:
        for flaw_id, table, id_column, code_column, n_valid in (
            ("unknown_cim10", conditions, "condition_occurrence_id", "condition_source_value", len(self.profiles.cim10_codes)),
            ("unknown_ccam", procedures, "procedure_occurrence_id", "procedure_source_value", len(self.profiles.ccam_codes)),
            ("unknown_ucd", prescriptions, "drug_exposure_id", "drug_ucd_source_value", len(self.profiles.ucd)),
        ):
            defects.unknown_code(rng, flaw_id, table, id_column, code_column, n_valid, len(defects.INVALID[flaw_id]), self.flaws)

    @staticmethod
    def _first_starts(stays: stays_mod.Stays, n_patients: int) -> np.ndarray:
        """Start of each patient's first stay (stays are sorted by patient then start); NAT without stay."""
        first = np.full(n_patients, NAT)
        heads = np.flatnonzero(np.append(True, stays.person[1:] != stays.person[:-1])) if len(stays) else np.array([], dtype=np.int64)
        first[stays.person[heads]] = stays.start[heads]
        return first

    def _next(self, table: str) -> int:
        return self.ids.next.get(table, 1)

    @staticmethod
    def _stay_of(visit_ids: np.ndarray, stay_ids: np.ndarray) -> np.ndarray:
        """Position in the chunk's stays of each row's visit id (ids are consecutive)."""
        return (np.asarray(visit_ids) - stay_ids[0]).astype(np.int64)

    def _visits(self, stays: stays_mod.Stays, ids: dict[str, np.ndarray]) -> dict:
        n = len(stays)
        parent = np.where(stays.parent >= 0, ids["stay"][np.maximum(stays.parent, 0)], -1)
        return {
            "visit_occurrence_id": ids["stay"],
            "person_id": ids["person"],
            "care_site_id": self.sites.hospital_ids[stays.hospital],
            "visit_start_datetime": timestamps(stays.start.copy()),
            "visit_end_datetime": timestamps(stays.end.copy()),
            "visit_source_value": Cat.of(stays.kind, [KIND_VISIT[k][0] for k in KINDS]),
            "stay_source_value": Cat.of(stays.kind, [KIND_VISIT[k][1] for k in KINDS]),
            "admitted_from_source_value": Cat.of(stays.admitted_from, stays_mod.ADMITTED_FROM),
            "provenance_source_value": Cat.of(stays.provenance, stays_mod.PROVENANCE),
            "discharge_to_source_value": Cat.of(stays.discharge, stays_mod.DISCHARGE),
            "destination_source_value": Cat.of(stays.destination, stays_mod.DESTINATION),
            "row_status_source_value": Cat.of(np.zeros(n, dtype=np.int32), ["courant", "supprimé"]),
            "visit_occurrence_source_value": defects.nda(stays, ids["stay"], self.sites.hospital_codes),
            "preceding_visit_occurrence_id": nullable_ids(parent),
            "cdm_source": Cat.of(np.zeros(n, dtype=np.int32), ["ORBIS"]),
            "delete_datetime": timestamps(np.full(n, NAT)),
        }

    def reference_tables(self, warehouse: Warehouse) -> None:
        """Care-site tree and terminology concepts (independent of the patients)."""
        warehouse.append("care_site", self.sites.care_site)
        warehouse.append("fact_relationship", self.sites.fact_relationship)
        concept, relationship = biology.concepts()
        warehouse.append("concept", concept)
        warehouse.append("concept_relationship", relationship)

    def finalise(self, warehouse: Warehouse) -> None:
        """Tables computed from the generated activity: bed capacities and GHM reference lengths."""
        bed_units = self.sites.uf[:, [caresites.ROLE[role] for role in caresites.BED_ROLES]].ravel()
        warehouse.con.register("_bed_units", pa.table({"care_site_id": bed_units}))
        year_before = self.now - 365 * DAY
        warehouse.con.execute(
            """
            INSERT INTO care_site_capacity
            WITH occupancy AS (
                SELECT care_site_id,
                       sum(greatest(0, epoch(least(coalesce(visit_detail_end_datetime, to_timestamp($now)::TIMESTAMP), to_timestamp($now)::TIMESTAMP))
                                   - epoch(greatest(visit_detail_start_datetime, to_timestamp($from)::TIMESTAMP)))) / 86400.0 / 365 AS occupied
                FROM visit_detail
                WHERE visit_detail_type_source_value = 'PASS UF'
                GROUP BY care_site_id
            ), beds AS (
                SELECT b.care_site_id, greatest(2, ceil(coalesce(o.occupied, 0) / 0.85))::BIGINT AS beds
                FROM _bed_units b LEFT JOIN occupancy o USING (care_site_id)
            )
            SELECT care_site_id, (beds * 1.1)::BIGINT, DATE '2018-01-01', DATE '2022-12-31' FROM beds
            UNION ALL
            SELECT care_site_id, beds, DATE '2023-01-01', NULL FROM beds
            """,
            {"now": self.now, "from": year_before},
        )
        warehouse.con.unregister("_bed_units")
        warehouse.con.register("_ghm", conform("ghm_reference_dms", pmsi.reference_dms(self.profiles)))
        warehouse.con.execute("INSERT INTO ghm_reference_dms SELECT * FROM _ghm WHERE ghm IN (SELECT DISTINCT drg_source_value FROM cost)")
        warehouse.con.unregister("_ghm")

    def stamp(self, warehouse: Warehouse, n_patients: int, extraction_date: date) -> str:
        """Fill ``_metadata`` with the snapshot id of every other table's content."""
        tables = [name for name in schema() if name != "_metadata"]
        snapshot = snapshot_id(warehouse_hashes(warehouse.con, tables))
        warehouse.con.execute(
            "INSERT INTO _metadata VALUES (?, ?, ?, ?, ?, ?)",
            [extraction_date, f"eds-workbench-demo {GENERATOR_VERSION}", self.seed, n_patients, snapshot, datetime.now().replace(microsecond=0)],
        )
        return snapshot


def _write_catalog(folder: Path) -> None:
    """The Intake catalogue of the new warehouse (paths relative to the folder, so it survives the move)."""
    from workbench.catalog import write_catalog

    write_catalog(source=folder / "eds.duckdb", flavour="aphp", out=folder / "catalog.yaml", demo=True)


def _move_into_place(built: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in ARTEFACTS:
        source, target = built / name, out / name
        if not source.exists():
            continue
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        os.replace(source, target)


def build_demo(
    out: Path,
    patients: int = 20_000,
    seed: int = 42,
    vocab: Path | None = None,
    extraction_date: date = date(2026, 10, 31),
    progress: bool = True,
) -> Path:
    """Build a demo warehouse of ``patients`` patients into ``out``; returns the path of ``eds.duckdb``.

    ``out`` receives ``eds.duckdb``, ``parquet/<table>.parquet``, ``flaws.json``, ``notes_truth.json``
    and ``catalog.yaml`` (previous versions of these are replaced, other files
    are left alone). Raises :class:`UserError` for a patient count below 1, a
    negative seed, an extraction date before 2020, an output path that cannot
    be written or a missing vocabulary file.
    """
    out = Path(out).expanduser()
    _validate(out, patients, seed, extraction_date)
    generator = _Generator(seed, extraction_date, vocab)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))
    except OSError as error:
        raise UserError(f"--out {out} : impossible de créer le dossier de travail ({error.strerror})") from error
    chunks = [(start, min(CHUNK_PATIENTS, patients - start)) for start in range(0, patients, CHUNK_PATIENTS)]
    try:
        with _steps(len(chunks) + 4, progress) as advance:
            warehouse = Warehouse(workdir)
            try:
                generator.reference_tables(warehouse)
                for index, (start, size) in enumerate(chunks):
                    generator.chunk(warehouse, index, start + 1, size)
                    advance(f"Patients {start + size:,}/{patients:,}".replace(",", " "))
                warehouse.load()
                advance("Chargement DuckDB")
                generator.finalise(warehouse)
                generator.stamp(warehouse, patients, extraction_date)
                for table in SQL_TABLES:
                    warehouse.export(table)
                advance("Capacités, DMS de référence, empreinte")
            finally:
                warehouse.close()
            generator.flaws.write(workdir / "flaws.json")
            generator.notes_truth.write(workdir / "notes_truth.json")
            _write_catalog(workdir)
            advance("Manifeste des défauts et catalogue")
        _move_into_place(workdir, out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out / "eds.duckdb"
