"""What an aggregates-only reader (équipe entrepôt) sees of a quality run, and who is refused.

The run is written by hand below, so every expected figure can be checked by
eye: counts of 1 to k-1 rows are masked (with the share that would give them
back), zero and counts of k or more are shown, ids and error details are
removed, statuses and SQL kept. The same rule is then checked on a small
fixture warehouse (the équipe entrepôt's own handle refuses every raw table,
its run comes from the unrestricted source) and through the CLI as the demo
account `entrepot`, in a subprocess, as a user runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench import audit
from workbench.errors import UserError
from workbench.paths import PROJECT_ROOT
from workbench.quality.disclosure import (
    QualityAccess,
    disclose,
    for_aggregate_user,
    quality_access,
    quality_source,
    shown_count,
)
from workbench.quality.model import CheckResult, RunResult, Status
from workbench.quality.report import render
from workbench.access.context import UserContext

from conftest import ts
from deployment_support import deployment_env

ENTREPOT = UserContext(name="equipe", role="equipe_entrepot", nominative=False, min_count=10)
REFERENT = UserContext(name="pilote", role="referent_pilotage", nominative=False, min_count=10)
CLINICIAN = UserContext(name="cardio", role="clinicien", perimeter=frozenset({"014-S03"}), nominative=False)


def result(check_id: str, violated: int | None, denominator: int | None, status: Status,
           samples: list[int] | None = None, reason: str | None = None) -> CheckResult:
    pct = None if violated is None or not denominator else round(100.0 * violated / denominator, 4)
    return CheckResult(
        id=check_id, category="plausibility", context="verification", level="field", table="visit_occurrence",
        field="visit_end_datetime", description=f"contrôle {check_id}", severity="error", threshold=0.0,
        status=status, num_violated_rows=violated, num_denominator_rows=denominator, pct_violated_rows=pct,
        sql=f"SELECT count(*) FROM visit_occurrence -- {check_id}", sample_ids=samples or [], reason=reason,
    )


RUN = RunResult(
    run_id="run-test", snapshot_id="snap", started_at="2026-01-01T00:00:00", duration_s=1.0, results=[
        result("three", 3, 250, Status.failed, samples=[101, 102, 103]),      # 3 violating rows: masked
        result("nine_checked", 0, 9, Status.passed),                           # 9 rows checked: masked, 0 shown
        result("ten", 10, 250, Status.failed, samples=list(range(201, 211))),  # 10: shown
        result("many", 250, 1000, Status.failed, samples=[301, 302]),          # 250 / 1000: shown
        result("broken", None, None, Status.error, reason="ConversionException: could not convert '75-SECRET'"),
    ],
)


def by_id(run: RunResult) -> dict[str, CheckResult]:
    return {r.id: r for r in run.results}


def test_ids_removed_small_counts_masked_statuses_and_sql_kept() -> None:
    shown = by_id(for_aggregate_user(RUN, min_count=10))
    assert all(r.sample_ids == [] for r in shown.values())
    three, nine, ten, many = shown["three"], shown["nine_checked"], shown["ten"], shown["many"]
    # 3 of 250: the count and the share (1.2 % of 250 gives 3 back) are masked, the denominator shown
    assert (three.num_violated_rows, three.num_denominator_rows, three.pct_violated_rows) == (None, 250, None)
    assert three.masked and three.to_json()["masked"] is True
    assert shown_count(three, "num_violated_rows") == "< 10" and shown_count(three, "num_denominator_rows") == "250"
    # 9 rows checked: masked; 0 violating rows points at no one and stays
    assert (nine.num_violated_rows, nine.num_denominator_rows) == (0, None)
    assert shown_count(nine, "num_denominator_rows") == "< 10"
    # 10 and 250: shown as they are
    assert (ten.num_violated_rows, ten.num_denominator_rows, ten.pct_violated_rows) == (10, 250, 4.0)
    assert (many.num_violated_rows, many.num_denominator_rows, many.pct_violated_rows) == (250, 1000, 25.0)
    assert not ten.masked and not many.masked
    # statuses, thresholds and SQL kept; an engine message (it may quote a value) is not
    assert [r.status for r in shown.values()] == [r.status for r in RUN.results]
    assert [r.sql for r in shown.values()] == [r.sql for r in RUN.results]
    assert "75-SECRET" not in (shown["broken"].reason or "") and shown["broken"].reason.startswith("ConversionException")
    # the run itself is untouched (it is the one stored and served to exact readers)
    assert by_id(RUN)["three"].sample_ids == [101, 102, 103] and by_id(RUN)["three"].num_violated_rows == 3


def test_the_threshold_is_the_users_k() -> None:
    shown = by_id(for_aggregate_user(RUN, min_count=5))
    assert shown["three"].num_violated_rows is None and shown_count(shown["three"], "num_violated_rows") == "< 5"
    assert shown["nine_checked"].num_denominator_rows == 9


def test_the_html_report_of_a_masked_run_has_no_ids_and_reads_below_k() -> None:
    page = render(for_aggregate_user(RUN), None)
    assert "&lt; 10" in page and "SELECT count(*)" in page
    for identifier in ("101", "102", "203", "301", "75-SECRET"):
        assert identifier not in page


def test_who_reads_what(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORKBENCH_STATE", str(tmp_path))
    assert quality_access(None) is QualityAccess.exact
    assert quality_access(UserContext(name="a", role="admin")) is QualityAccess.exact
    assert quality_access(CLINICIAN) is QualityAccess.own_rows
    assert quality_access(ENTREPOT) is QualityAccess.masked
    with pytest.raises(UserError, match="referent_pilotage n'a pas accès aux rapports de qualité"):
        quality_access(REFERENT, surface="qualite")
    (refused,) = [e for e in audit.read() if e["event"] == "refused"]
    assert (refused["user"], refused["surface"]) == ("pilote", "qualite")


def test_a_read_is_audited_with_the_masked_counts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WORKBENCH_STATE", str(tmp_path))
    shown = disclose(ENTREPOT, RUN, surface="qualite")
    assert by_id(shown)["three"].num_violated_rows is None
    (event,) = [e for e in audit.read() if e["event"] == "quality"]
    assert (event["user"], event["role"], event["run_id"], event["checks"], event["masked"], event["policy"]) == (
        "equipe", "equipe_entrepot", "run-test", 5, 2, True)  # 3 violating rows, 9 checked rows


def test_on_a_fixture_warehouse_the_entrepot_run_comes_from_the_whole_warehouse(
        make_warehouse, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Three stays, one ending before it starts: its own handle refuses visit_occurrence, the rule's source does not."""
    from workbench.quality import run_checks
    from workbench.warehouse import open as open_warehouse

    monkeypatch.setenv("WORKBENCH_STATE", str(tmp_path / "state"))
    stays = [{"visit_occurrence_id": i, "person_id": i, "visit_start_datetime": ts("2024-03-01"),
              "visit_end_datetime": ts("2024-03-05")} for i in (1, 2, 3)]
    stays[1]["visit_end_datetime"] = ts("2024-02-01")
    admin = make_warehouse({"visit_occurrence": stays})
    mine = open_warehouse(admin.catalog_path, user=ENTREPOT)
    check = ["visit_occurrence_start_before_end"]
    assert run_checks(mine, check).results[0].status is Status.error  # today's failure: every raw table refused
    source, whole = quality_source(ENTREPOT, mine)
    assert whole
    exact = run_checks(source, check).results[0]
    assert (exact.status, exact.num_violated_rows, exact.num_denominator_rows, exact.sample_ids) == (
        Status.failed, 1, 3, [2])
    shown = disclose(ENTREPOT, run_checks(source, check)).results[0]
    assert (shown.status, shown.num_violated_rows, shown.num_denominator_rows, shown.sample_ids) == (
        Status.failed, None, None, [])


def entrepot_cli(catalog: Path, state: Path, *args: str, user: str = "entrepot",
                 password: str = "entrepot-demo") -> subprocess.CompletedProcess[str]:
    """`workbench --utilisateur USER quality ARGS` with the project's demo accounts, password in the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("WORKBENCH_USER", "WORKBENCH_CATALOG", "WORKBENCH_ACCESS")}
    env.update(WORKBENCH_PASSWORD=password, WORKBENCH_STATE=str(state))
    env = deployment_env(env, access=PROJECT_ROOT / "access.yaml", catalog=catalog, state=state, folder=state)
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--catalog", str(catalog), "--access", str(PROJECT_ROOT / "access.yaml"),
         "--utilisateur", user, "quality", *args],
        cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False,
    )


def test_the_cli_as_the_equipe_entrepot_masks_like_the_page(demo_dir: Path, tmp_path: Path) -> None:
    catalog = demo_dir / "catalog.yaml"
    done = entrepot_cli(catalog, tmp_path, "run", "--format", "json")
    assert done.returncode == 0, done.stderr
    checks = json.loads(done.stdout)["checks"]
    assert {c["status"] for c in checks} >= {"passed", "failed"} and all(c["status"] != "error" for c in checks)
    assert all(c["sample_ids"] == [] for c in checks)
    for check in checks:
        for key in ("num_violated_rows", "num_denominator_rows"):
            assert check[key] is None or check[key] == 0 or check[key] >= 10, check
            assert (check[key] is None) == (key in check["masked_fields"]) or check["status"] == "not_applicable", check
    masked = [c for c in checks if c["masked"]]
    assert masked, "the 2,000-patient demo has checks with 1 to 9 violating rows (e.g. missing birth dates)"
    events = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    (read,) = [e for e in events if e["event"] == "quality"]
    assert (read["user"], read["checks"], read["policy"]) == ("entrepot", len(checks), True)
    assert read["masked"] == sum(len(set(c["masked_fields"]) - {"pct_violated_rows"}) for c in masked)
    # the table says « < 10 » where the JSON has null; the stored run is the whole warehouse's, exact
    done = entrepot_cli(catalog, tmp_path, "run")
    assert done.returncode == 0, done.stderr
    assert "< 10" in done.stdout and "masqué" in done.stdout
    from workbench.quality import ResultStore

    stored = ResultStore(tmp_path).load()
    assert any(r.sample_ids for r in stored.results)  # exact in the store, masked on the way out
    # the référent pilotage has no quality right: a clear refusal, audited
    done = entrepot_cli(catalog, tmp_path, "run", user="pilotage", password="pilotage-demo")
    assert done.returncode == 1 and "n'a pas accès aux rapports de qualité" in done.stderr and done.stdout == ""
    events = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(e["user"], e["command"]) for e in events if e["event"] == "refused"] == [("pilotage", "quality run")]
