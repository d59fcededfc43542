"""`workbench demo` as a user runs it: a real subprocess, exit codes, French messages, nothing half-written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

PROJECT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", "demo", *args], cwd=PROJECT, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=300,
    )


def assert_user_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Erreur : "), result.stderr
    for word in words:
        assert word in lines[0]


def test_builds_a_warehouse_and_prints_a_french_summary(tmp_path, vocab_dir):
    out = tmp_path / "data"
    result = run("--patients", "150", "--seed", "3", "--out", str(out), "--vocab", str(vocab_dir), "--extraction-date", "2025-06-30")
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == {"eds.duckdb", "parquet", "flaws.json", "notes_truth.json", "catalog.yaml"}
    assert "Entrepôt de démonstration écrit dans" in result.stdout and "150 patients, graine 3" in result.stdout
    with duckdb.connect(str(out / "eds.duckdb"), read_only=True) as con:
        persons = con.execute("SELECT count(*) FROM person").fetchone()[0]
        extraction, seed = con.execute("SELECT extraction_date, seed FROM _metadata").fetchone()
        latest = con.execute("SELECT max(visit_start_datetime) FROM visit_occurrence").fetchone()[0]
        visits = con.execute("SELECT count(*) FROM visit_occurrence").fetchone()[0]
    assert persons == 150 and str(extraction) == "2025-06-30" and seed == 3 and str(latest) < "2025-06-30"
    assert "visit_occurrence" in result.stdout and f"{visits}" in result.stdout.replace(" ", "")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_rebuild_replaces_the_previous_warehouse(tmp_path, vocab_dir):
    out = tmp_path / "data"
    assert run("--patients", "40", "--out", str(out), "--vocab", str(vocab_dir)).returncode == 0
    (out / "notes.txt").write_text("kept")
    assert run("--patients", "60", "--out", str(out), "--vocab", str(vocab_dir)).returncode == 0
    with duckdb.connect(str(out / "eds.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM person").fetchone()[0] == 60
    assert (out / "notes.txt").read_text() == "kept"


def test_bad_patient_count_and_seed(tmp_path):
    out = tmp_path / "data"
    assert_user_error(run("--patients", "0", "--out", str(out)), "--patients")
    assert_user_error(run("--seed", "-1", "--out", str(out)), "--seed")
    assert_user_error(run("--extraction-date", "31/10/2026", "--out", str(out)), "--extraction-date")
    assert_user_error(run("--extraction-date", "2019-05-01", "--out", str(out)), "--extraction-date", "2018")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_vocabulary_file_is_named(tmp_path, vocab_dir):
    partial = tmp_path / "vocab"
    partial.mkdir()
    (partial / "cim10_fr.csv.gz").write_bytes((vocab_dir / "cim10_fr.csv.gz").read_bytes())
    out = tmp_path / "data"
    assert_user_error(run("--patients", "10", "--out", str(out), "--vocab", str(partial)), "ccam_actes.json.gz")
    assert_user_error(run("--patients", "10", "--out", str(out), env={"WORKBENCH_VOCAB": str(tmp_path / "nowhere")}), "cim10_fr.csv.gz")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab"]


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert_user_error(run("--patients", "10", "--out", str(blocker / "data")), "--out")
    assert_user_error(run("--patients", "10", "--out", str(blocker)), "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
