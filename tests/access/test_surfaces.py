"""Every surface × role × attempt, all blocked (issue 8, "done means" item 1).

`SURFACES` below is the table the issue asks for: one row per (role, surface,
attempt, expected outcome), each run by `test_attempt_is_blocked` on the
2,000-patient demo warehouse. Expected outcomes are computed independently of
the workbench, by SQL on the DuckDB file (care-site tree by
`fact_relationship` "is part of", stays by their unit movements, patients per
hospital and month); each attempt that goes through the data-access layer must
also leave its line in the audit log (`workbench.audit.read`).

Surfaces:

- ``notebook``: what a kernel calls — `workbench.open(user=…)`, `view`,
  `table`, `execute`, and the indicator engine's `compute`;
- ``download``: the CSV/XLSX bytes the dashboards' download buttons produce
  (`dashboards.components.stamped_csv`/`stamped_xlsx`, i.e.
  `workbench.output.emit`/`write_xlsx`) for the user's own result;
- ``static site``: the indicator pages of `workbench wiki build`, which reads
  the warehouse as a référent pilotage (`workbench.wiki.site.site_user`);
- ``dashboard``: the served app in Chromium, with the browser harness of
  tests/dashboards: `tests/dashboards/test_surface_url.py` (clinician of
  cardiology, ``?hopital=<other hospital>`` in the URL: only his hospital is
  offered and every request of the page, in the audit log, is for 014);
- ``CLI``: the real `workbench` command in a subprocess, logged in with
  ``--utilisateur`` (password in ``$WORKBENCH_PASSWORD``; runner and accounts
  from tests/access/test_cli_user.py): CSV files written with ``--out``,
  ``catalog show`` of raw tables, filters given with ``--filter``.

Without ``--utilisateur`` the CLI is the administrator's tool on the server
(see the threat model in docs/security.md), so it is not a row of its own.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import duckdb
import ibis
import pandas as pd
import pytest

import workbench
from workbench import audit
from workbench.errors import UserError

from .conftest import CARDIO, INJECTION, user

DIM_HOSPITAL = "014"
K = 10
YEAR = "2024"

CLINICIEN, DIM, REFERENT = "clinicien", "analyste_dim", "referent_pilotage"
NOTEBOOK, DOWNLOAD, SITE, CLI = "notebook", "download", "static site", "CLI"

#  role        surface    attempt                      expectation
SURFACES: list[tuple[str, str, str, str]] = [
    (CLINICIEN, NOTEBOOK, "other care site by filter", "no row"),
    (CLINICIEN, NOTEBOOK, "raw tables", "perimeter rows only"),
    (CLINICIEN, NOTEBOOK, "person_identity", "refused"),
    (CLINICIEN, NOTEBOOK, "SQL injection as filter value", "no row"),
    (CLINICIEN, NOTEBOOK, "indicator of another care site", "cube, no cell under k"),
    (DIM, NOTEBOOK, "other care site by filter", "no row"),
    (DIM, NOTEBOOK, "raw tables", "perimeter rows only"),
    (DIM, NOTEBOOK, "person_identity", "refused"),
    (DIM, NOTEBOOK, "SQL injection as filter value", "no row"),
    (REFERENT, NOTEBOOK, "raw tables", "refused"),
    (REFERENT, NOTEBOOK, "person_identity", "refused"),
    (REFERENT, NOTEBOOK, "SQL injection as filter value", "refused"),
    (REFERENT, NOTEBOOK, "count under k", "masked"),
    (CLINICIEN, DOWNLOAD, "other care site by filter", "cube, no cell under k"),
    (DIM, DOWNLOAD, "raw tables", "perimeter rows only"),
    (REFERENT, DOWNLOAD, "count under k", "masked"),
    (REFERENT, SITE, "count under k", "masked"),
    (CLINICIEN, CLI, "other care site by filter", "cube, no cell under k"),
    (CLINICIEN, CLI, "raw tables", "perimeter rows only"),
    (CLINICIEN, CLI, "person_identity", "refused"),
    (DIM, CLI, "other care site by filter", "cube, no cell under k"),
    (REFERENT, CLI, "count under k", "masked"),
    (REFERENT, CLI, "raw tables", "refused"),
    (REFERENT, CLI, "SQL injection as filter value", "refused"),
]

PERIMETERS = {CLINICIEN: (CARDIO,), DIM: (DIM_HOSPITAL,), REFERENT: ()}

TREE = """
WITH RECURSIVE tree(id) AS (
    SELECT care_site_id FROM care_site WHERE care_site_source_value IN ({codes})
    UNION
    SELECT f.fact_id_1 FROM fact_relationship f JOIN tree ON f.fact_id_2 = tree.id
    WHERE f.relationship_concept_id = 46233688 AND f.domain_concept_id_1 = 57
)
"""
# a stay is in the perimeter when its (discharge) care site or one of its unit movements is covered; raw
# tables keep every row status (deleted rows included), so no status filter here
PERIMETER_STAYS = TREE + """
SELECT v.visit_occurrence_id FROM visit_occurrence v WHERE v.care_site_id IN (SELECT id FROM tree)
   OR v.visit_occurrence_id IN (SELECT visit_occurrence_id FROM visit_detail WHERE care_site_id IN (SELECT id FROM tree))
"""
# hospitals: the care sites directly under the root (the one care site that is part of nothing)
HOSPITALS = """
SELECT c.care_site_source_value FROM care_site c JOIN fact_relationship f ON f.fact_id_1 = c.care_site_id
WHERE f.relationship_concept_id = 46233688 AND f.domain_concept_id_1 = 57
  AND f.fact_id_2 = (SELECT care_site_id FROM care_site WHERE care_site_id NOT IN (
        SELECT fact_id_1 FROM fact_relationship WHERE relationship_concept_id = 46233688 AND domain_concept_id_1 = 57))
"""
# nb_sejours's patients by hospital and month (current full, ambulatory or séance stays, as in tests/wiki)
PATIENTS_BY_HOSPITAL_MONTH = """
SELECT h.care_site_source_value, strftime(v.visit_end_datetime, '%Y-%m'), count(DISTINCT v.person_id)
FROM visit_occurrence v
JOIN care_site h ON h.care_site_id = v.care_site_id
LEFT JOIN (SELECT visit_occurrence_id, max(drg_source_value) AS ghm FROM cost GROUP BY 1) c
       ON c.visit_occurrence_id = v.visit_occurrence_id
WHERE coalesce(trim(v.row_status_source_value), '') <> 'supprimé'
  AND (v.visit_source_value IN ('hospitalisés', 'hospitalisation incomplète') OR substr(c.ghm, 1, 2) = '28')
GROUP BY 1, 2
"""


def _codes(codes: tuple[str, ...]) -> str:
    return ",".join("'" + code.replace("'", "''") + "'" for code in codes)


@pytest.fixture(scope="module")
def truth(duckdb_file: Path) -> dict:
    """What each role may reach, by SQL on the DuckDB file alone."""
    with duckdb.connect(str(duckdb_file), read_only=True) as con:
        hospitals = {row[0] for row in con.execute(HOSPITALS).fetchall()}
        stays, reachable = {}, {}
        for role in (CLINICIEN, DIM):
            codes = _codes(PERIMETERS[role])
            stays[role] = {r[0] for r in con.execute(PERIMETER_STAYS.format(codes=codes)).fetchall()}
            covered = {r[0] for r in con.execute(
                TREE.format(codes=codes) + "SELECT c.care_site_source_value FROM care_site c JOIN tree ON c.care_site_id = tree.id"
            ).fetchall()}
            # hospitals whose subtree holds a covered code
            reachable[role] = {h for h in hospitals if covered & {r[0] for r in con.execute(
                TREE.format(codes=_codes((h,))) + "SELECT c.care_site_source_value FROM care_site c JOIN tree ON c.care_site_id = tree.id"
            ).fetchall()}}
        patients = {(h, m): n for h, m, n in con.execute(PATIENTS_BY_HOSPITAL_MONTH).fetchall()}
    return {"hospitals": hospitals, "stays": stays, "reachable": reachable, "patients": patients}


@pytest.fixture(scope="module")
def nb_sejours():
    from workbench import paths
    from workbench.indicators.dictionary import load_dictionary

    return load_dictionary(paths.PROJECT_ROOT / "wiki").get("nb_sejours").definition


def account(role: str):
    return user(role, PERIMETERS[role], name=f"attaquant.{role}")


def other_hospital(truth: dict, role: str) -> str:
    return min(truth["hospitals"] - truth["reachable"][role])


def events(kind: str) -> list[dict]:
    return [e for e in audit.read() if e["event"] == kind]


def assert_no_small_cell(frame: pd.DataFrame) -> None:
    """Every shown cell stands for k patients or more; masked cells carry no figure."""
    shown = frame[~frame["masked"].astype(bool)]
    assert (shown["n_patients"].astype(float) >= K).all()
    hidden = frame[frame["masked"].astype(bool)]
    assert hidden[["value", "numerator", "denominator", "n_patients"]].isna().all().all()


def assert_masked_under_k(frame: pd.DataFrame, truth: dict) -> None:
    """Hospital × month cells: SQL's count under k ⇒ masked; a shown cell has SQL's count ≥ k."""
    small = 0
    for _, row in frame.iterrows():
        expected = truth["patients"].get((row["hospital"], str(row["month"])[:7]), 0)
        if expected < K:
            small += 1
            assert bool(row["masked"]), (row["hospital"], row["month"], expected)
        if not bool(row["masked"]):
            assert expected >= K
    assert small > 0, "the demo holds no hospital-month under k: the attempt proves nothing"


# --------------------------------------------------------------------------- the attempts


def notebook(role: str, attempt: str, truth: dict, catalog: Path, definition) -> None:
    w = workbench.open(catalog, user=account(role))
    if attempt == "other care site by filter":
        stays = w.view("stays")
        other = other_hospital(truth, role)
        assert w.execute(stays.filter(stays.hospital == other)).empty
        widened = w.execute(stays.filter((stays.hospital == other) | ibis.literal(True)))
        assert set(widened["stay_id"]) <= truth["stays"][role]
        assert set(widened["hospital"]) <= truth["reachable"][role]
        assert [e["rows"] for e in events("execute")] == [0, len(widened)]
    elif attempt == "raw tables":
        if role == REFERENT:
            for name in ("visit_occurrence", "person", "condition_occurrence"):
                with pytest.raises(UserError, match="accès refusé"):
                    w.table(name)
            assert [e["table"] for e in events("refused")] == ["visit_occurrence", "person", "condition_occurrence"]
            return
        frame = w.execute(w.table("visit_occurrence"))
        assert set(frame["visit_occurrence_id"]) == truth["stays"][role]
        (event,) = events("execute")
        assert event["tables"] == ["visit_occurrence"] or "visit_occurrence" in event["tables"]
        assert event["rows"] == len(frame)
    elif attempt == "person_identity":
        with pytest.raises(UserError, match="person_identity"):
            w.table("person_identity")
        (event,) = events("refused")
        assert (event["user"], event["table"]) == (f"attaquant.{role}", "person_identity")
    elif attempt == "SQL injection as filter value":
        if role == REFERENT:
            from workbench.indicators.engine import compute

            with pytest.raises(UserError, match="politique de diffusion"):
                compute(definition, w, by=("hospital",), start=f"{YEAR}-01", end=f"{YEAR}-12", grain="year",
                        filters={"hospital": [INJECTION]})
            (event,) = events("refused")
            assert event["filters"] == {"hospital": [INJECTION]} and event["indicator"] == "nb_sejours"
            return
        stays = w.view("stays")
        assert w.execute(stays.filter(stays.hospital == INJECTION)).empty
        assert w.execute(stays.filter(stays.service.isin([INJECTION, "1' OR '1'='1"]))).empty
        assert [e["rows"] for e in events("execute")] == [0, 0]
    elif attempt == "indicator of another care site":
        from workbench.indicators.engine import compute

        other = other_hospital(truth, role)
        result = compute(definition, w, by=("hospital", "month"), start=f"{YEAR}-01", end=f"{YEAR}-12",
                         filters={"hospital": [other]})
        assert set(result.frame["hospital"]) == {other}
        assert_no_small_cell(result.frame)
        assert_masked_under_k(result.frame, truth)
        (event,) = events("indicator")
        assert event["policy"] is True and event["filters"] == {"hospital": [other]}
    elif attempt == "count under k":
        from workbench.indicators.engine import compute

        result = compute(definition, w, by=("hospital", "month"), start=f"{YEAR}-01", end=f"{YEAR}-12")
        assert set(result.frame["hospital"]) <= truth["hospitals"]
        assert_no_small_cell(result.frame)
        assert_masked_under_k(result.frame, truth)
        (event,) = events("indicator")
        assert event["policy"] is True and event["masked"] == int(result.frame["masked"].sum()) > 0
    else:
        raise AssertionError(attempt)


def download(role: str, attempt: str, truth: dict, catalog: Path, definition) -> None:
    from workbench.indicators.engine import compute
    from workbench.output import OutputFormat, emit, write_xlsx

    def csv_and_xlsx(frame: pd.DataFrame, stamp: dict, tmp: Path) -> list[pd.DataFrame]:
        """Both files as the download buttons write them, read back."""
        emit(frame, OutputFormat.csv, out=tmp / "out.csv", stamp=stamp)
        write_xlsx(frame, tmp / "out.xlsx", stamp)
        csv = pd.read_csv(io.StringIO((tmp / "out.csv").read_text(encoding="utf-8")), comment="#",
                          dtype={"hospital": str, "month": str})
        xlsx = pd.read_excel(tmp / "out.xlsx", sheet_name="Données", dtype={"hospital": str, "month": str})
        return [csv, xlsx]

    w = workbench.open(catalog, user=account(role))
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if attempt == "raw tables":  # a DIM analyst exporting a raw table: the perimeter's rows only
            frame = w.execute(w.table("visit_occurrence"))
            for read in csv_and_xlsx(frame, {"table": "visit_occurrence"}, tmp):
                assert set(read["visit_occurrence_id"]) == truth["stays"][role]
            assert events("execute")[-1]["rows"] == len(frame)
            return
        filters = {"hospital": [other_hospital(truth, role)]} if role != REFERENT else None
        result = compute(definition, w, by=("hospital", "month"), start=f"{YEAR}-01", end=f"{YEAR}-12", filters=filters)
        for read in csv_and_xlsx(result.frame, result.stamp, tmp):
            read["month"] = read["month"].str[:7]
            assert len(read) == len(result.frame)
            assert_no_small_cell(read)
            assert_masked_under_k(read, truth)
        (event,) = events("indicator")
        assert event["policy"] is True


def static_site(role: str, attempt: str, truth: dict, catalog: Path, definition) -> None:
    import re

    from workbench import paths
    from workbench.indicators.dictionary import load_dictionary
    from workbench.wiki.site import SiteBuilder, site_user

    assert (role, attempt) == (REFERENT, "count under k")
    dictionary = load_dictionary(paths.PROJECT_ROOT / "wiki")
    w = workbench.open(catalog, user=site_user())
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        builder = SiteBuilder(dictionary, Path(folder), w)
        text = builder.indicator(dictionary.indicators["nb_sejours"]).read_text(encoding="utf-8")
    cells = re.findall(r'<td class="nombre" data-hospital="([^"]+)" data-month="([^"]+)"( data-value="[^"]+")?>', text)
    assert len(cells) >= 12
    small = 0
    for hospital, month, value in cells:
        expected = truth["patients"].get((hospital, month), 0)
        if expected < K:
            small += 1
            assert not value, (hospital, month, expected)  # shown as « – », no figure
        if value:
            assert expected >= K
    assert small > 0, "no cell under k in the site's twelve months: the attempt proves nothing"
    assert "moins de 10 patients sont masquées" in text
    (event,) = [e for e in events("indicator") if e["indicator"] == "nb_sejours"]
    assert (event["user"], event["role"], event["policy"]) == ("wiki-build", REFERENT, True)
    # the quality badge is the administrator's (the checks run on the whole warehouse; only their status shows)
    from workbench.quality.status import quality_for_request

    expected = quality_for_request(workbench.open(catalog), dictionary.get("nb_sejours").definition).status
    assert f'class="qualite" data-quality="{expected}"' in text


def command_line(role: str, attempt: str, truth: dict, catalog: Path, definition) -> None:
    """`workbench --utilisateur attaquant.<role> …` in a subprocess; what it wrote, printed and audited."""
    import json
    import tempfile

    from .test_cli_user import cli, exports, write_accounts

    def compute(folder: Path, *options: str) -> subprocess.CompletedProcess[str]:
        return cli("indicators", "compute", "nb_sejours", "--from", f"{YEAR}-01", "--to", f"{YEAR}-12", *options,
                   catalog=catalog, access=write_accounts(folder), role=role)

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if attempt in ("other care site by filter", "count under k"):
            filters = ["--filter", f"hospital={other_hospital(truth, role)}"] if role != REFERENT else []
            done = compute(folder, "--by", "hospital,month", *filters, "--format", "csv", "--out", "cube.csv")
            assert done.returncode == 0, done.stderr
            out = exports(role) / "cube.csv"  # a user's files go to his exports folder
            read = pd.read_csv(out, comment="#", dtype={"hospital": str, "month": str})
            if filters:
                assert set(read["hospital"]) == {filters[1].split("=")[1]}
            assert_no_small_cell(read)
            assert_masked_under_k(read, truth)
            (event,) = events("indicator")
            assert event["policy"] is True and event["user"] == f"attaquant.{role}"
            (export,) = events("export")
            assert (export["rows"], export["masked"]) == (len(read), int(read["masked"].sum()))
        elif attempt in ("raw tables", "person_identity"):
            table = "visit_occurrence" if attempt == "raw tables" else "person_identity"
            done = cli("catalog", "show", table, "--format", "json", catalog=catalog,
                       access=write_accounts(folder), role=role)
            if role == REFERENT or table == "person_identity":
                assert done.returncode == 1 and "accès refusé" in done.stderr and done.stdout == ""
                (event,) = events("refused")
                assert (event["user"], event["table"]) == (f"attaquant.{role}", table)
                return
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["rows"] == len(truth["stays"][role])
        elif attempt == "SQL injection as filter value":
            done = compute(folder, "--by", "hospital", "--grain", "year", "--filter", f"hospital={INJECTION}")
            assert done.returncode == 1 and "politique de diffusion" in done.stderr and done.stdout == ""
            (event,) = events("refused")
            assert event["filters"] == {"hospital": [INJECTION]} and event["indicator"] == "nb_sejours"
        else:
            raise AssertionError(attempt)


RUN = {NOTEBOOK: notebook, DOWNLOAD: download, SITE: static_site, CLI: command_line}


@pytest.mark.parametrize(("role", "surface", "attempt", "expectation"), SURFACES,
                         ids=[f"{r}-{s}-{a}".replace(" ", "_") for r, s, a, _ in SURFACES])
def test_attempt_is_blocked(role: str, surface: str, attempt: str, expectation: str, truth: dict, catalog: Path,
                            nb_sejours) -> None:
    RUN[surface](role, attempt, truth, catalog, nb_sejours)


def test_the_table_covers_every_role_and_the_sites_build_as_a_referent(tmp_path: Path, monkeypatch, catalog: Path) -> None:
    """Each role appears on each data surface it can use; `workbench wiki build` reads as a référent."""
    assert {(r, s) for r, s, _, _ in SURFACES} >= {(CLINICIEN, NOTEBOOK), (DIM, NOTEBOOK), (REFERENT, NOTEBOOK),
                                                    (CLINICIEN, DOWNLOAD), (DIM, DOWNLOAD), (REFERENT, DOWNLOAD),
                                                    (REFERENT, SITE), (CLINICIEN, CLI), (DIM, CLI),
                                                    (REFERENT, CLI)}
    from typer.testing import CliRunner

    from workbench.cli import app
    from workbench.wiki import site

    seen = []
    monkeypatch.setattr(site, "build_site", lambda dictionary, out, warehouse: seen.append(warehouse) or [])
    monkeypatch.chdir(tmp_path)  # no access.yaml here: default k
    monkeypatch.delenv("WORKBENCH_ACCESS", raising=False)
    monkeypatch.setenv("WORKBENCH_CATALOG", str(catalog))
    done = CliRunner().invoke(app, ["wiki", "build", "--out", str(tmp_path / "site"), "--wiki",
                                    str(Path(workbench.__file__).resolve().parents[1] / "wiki")])
    assert done.exit_code == 0, done.output
    (warehouse,) = seen
    assert (warehouse.user.role, warehouse.user.perimeter, warehouse.user.min_count) == (REFERENT, frozenset(), K)
