"""Finding 7 — an audit nobody can erase and that misses nothing.

Attacks of the issue, each reproduced and shown to fail now:
- a line of the log edited, deleted, the log truncated, deleted, or its sidecar
  deleted: `workbench audit verify` exits 1 naming the break, and writing is
  refused (the query is not answered) until `workbench audit reset` starts a new
  chain that records the break (the broken log kept);
- several processes and threads appending at once keep one valid chain;
- a figure served from the dashboards' cache writes its own audit line; the
  server's warm-up writes under the system identity, never `pilotage`/`entrepot`;
- a 1 MB login name is cut to 64 characters; a failed-login flood writes a few
  lines and one summary;
- a write that fails half-way (file size limit, as on a full disk) leaves no
  torn record and the query is not answered;
- figures printed on stdout and static-site builds are audited with their surface.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from workbench import audit
from workbench.access.model import AccessFile, Policy, UserEntry, hash_password, save_access
from workbench.paths import PROJECT_ROOT
from workbench.access.context import UserContext

WIKI = PROJECT_ROOT / "wiki"


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test has its own state folder (log, sidecar, lock) and a fresh failed-login limiter."""
    folder = tmp_path / "state"
    monkeypatch.setenv("WORKBENCH_STATE", str(folder))
    monkeypatch.setattr(audit, "LOGINS", audit.LoginLimiter())
    return folder


def workbench(*args: str, catalog: Path | None = None, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as the local administrator, in a subprocess sharing the test's state folder.

    `limit` caps the size of any file the process writes (RLIMIT_FSIZE): a write
    past it fails like one on a full disk.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("WORKBENCH_USER")}
    argv = [sys.executable, "-m", "workbench.cli", *(("--catalog", str(catalog)) if catalog else ()), *args]

    def capped() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
                          check=False, preexec_fn=capped if limit is not None else None)


def append_in_subprocess(user: str) -> subprocess.CompletedProcess[str]:
    """One audit write from a new process (a CLI run, a server) — what the next writer after an attack does."""
    code = f"from workbench import audit; audit.write('execute', {user!r}, tables=['visit_occurrence'], rows=1)"
    return subprocess.run([sys.executable, "-c", code], env=dict(os.environ), capture_output=True, text=True,
                          timeout=120, check=False)


def fill(count: int = 8) -> list[bytes]:
    for index in range(count):
        audit.write("execute", UserContext(name=f"u{index}", role="analyste_dim"), tables=["person"], rows=index)
    return audit.log_path().read_bytes().splitlines(keepends=True)


def problem_kinds(report: audit.Report) -> list[str]:
    return [finding.kind for finding in report.problems]


# --------------------------------------------------------------------------- the chain


def test_a_normal_log_verifies_and_every_record_is_chained(state: Path) -> None:
    fill(5)
    lines = audit.log_path().read_bytes().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["seq"] for r in records] == list(range(6)) and records[0]["event"] == "genesis"
    # each record holds the SHA-256 of the previous line, computed here with hashlib, not by the module
    import hashlib

    for before, line, record in zip(lines, lines[1:], records[1:]):
        assert record["prev"] == hashlib.sha256(before).hexdigest()
    head = json.loads((state / "audit.head.json").read_text(encoding="utf-8"))
    assert (head["seq"], head["hash"], head["size"]) == (5, hashlib.sha256(lines[-1]).hexdigest(),
                                                        audit.log_path().stat().st_size)
    done = workbench("audit", "verify")
    assert done.returncode == 0, done.stderr
    assert "Verdict : chaîne intacte." in done.stdout and "Enregistrements chaînés : 6" in done.stdout
    as_json = json.loads(workbench("audit", "verify", "--format", "json").stdout)
    assert (as_json["intact"], as_json["records"], as_json["last_seq"], as_json["problems"]) == (True, 6, 5, [])


def edit_a_line(state: Path, lines: list[bytes]) -> None:
    lines[3] = lines[3].replace(b'"rows": 2', b'"rows": 7')  # same length: only the hash can tell
    (state / "audit.jsonl").write_bytes(b"".join(lines))


def delete_a_line(state: Path, lines: list[bytes]) -> None:
    (state / "audit.jsonl").write_bytes(b"".join(lines[:4] + lines[5:]))


def truncate(state: Path, lines: list[bytes]) -> None:
    (state / "audit.jsonl").write_bytes(b"".join(lines[:5]))


def delete_the_log(state: Path, lines: list[bytes]) -> None:
    (state / "audit.jsonl").unlink()


def delete_log_and_sidecar_keep_chain(state: Path, lines: list[bytes]) -> None:
    (state / "audit.head.json").unlink()


def overwrite_with_another_file(state: Path, lines: list[bytes]) -> None:
    """The attack of the issue: an export written over the log (3,437 lines → 29)."""
    (state / "audit.jsonl").write_text("hospital,month,value\n047,2024-12,18\n", encoding="utf-8")


ATTACKS = {
    "ligne modifiée": (edit_a_line, "modification"),
    "ligne supprimée": (delete_a_line, "trou"),
    "journal tronqué": (truncate, "troncature"),
    "journal supprimé": (delete_the_log, "absent"),
    "registre supprimé": (delete_log_and_sidecar_keep_chain, "registre"),
    "journal écrasé": (overwrite_with_another_file, "troncature"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_tampered_log_is_reported_writing_refuses_and_reset_starts_a_new_chain(state: Path, attack: str) -> None:
    tamper, kind = ATTACKS[attack]
    lines = fill(8)
    before = (state / "audit.jsonl").read_bytes() if (state / "audit.jsonl").exists() else b""
    tamper(state, lines)
    tampered = (state / "audit.jsonl").read_bytes() if (state / "audit.jsonl").exists() else None

    assert kind in problem_kinds(audit.verify())
    done = workbench("audit", "verify")
    assert done.returncode == 1 and "CHAÎNE ROMPUE" in done.stdout, done.stdout + done.stderr
    as_json = workbench("audit", "verify", "--format", "json")
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and report["intact"] is False and kind in [p["kind"] for p in report["problems"]]
    # writing refuses, in this process (which wrote the log before) and in a new one
    with pytest.raises(audit.AuditError, match="lancez `workbench audit verify`"):
        audit.write("execute", "apres-attaque", rows=1)
    other = append_in_subprocess("autre-processus")
    assert other.returncode != 0 and "AuditError" in other.stderr
    assert ((state / "audit.jsonl").read_bytes() if tampered is not None else None) == tampered  # nothing added

    reset = workbench("audit", "reset", "--raison", f"test : {attack}")
    assert reset.returncode == 0, reset.stderr
    archives = sorted(state.glob("audit.jsonl.rompu-*"))
    if tampered is None:
        assert archives == []
    else:
        assert [path.read_bytes() for path in archives] == [tampered]  # the evidence is kept as it was found
    report = audit.verify()
    assert report.intact and [note.kind for note in report.notes] == ["rupture"], report.text()
    genesis = next(audit.read())
    assert genesis["event"] == "genesis" and genesis["reason"] == f"test : {attack}"
    previous = genesis["previous"]
    # what was known of the broken chain: the sidecar's mark (unless deleted) and the log's last record (unless gone)
    assert (previous["head"] or {}).get("seq", 8) == 8 and previous["last_seq"] in (None, 4, 7, 8)
    assert genesis["problem_count"] >= 1 and genesis["reset_by"] == "local" and genesis["reset_role"] == "admin"
    assert audit.write("execute", "apres-reset", rows=1)["seq"] == 1
    assert before  # the log existed before the attack


def test_an_old_edit_is_caught_by_the_servers_check_at_start(state: Path) -> None:
    """Writers re-check only the last 256 KB; the server verifies the whole log at start and then refuses."""
    rows = 0
    while rows == 0 or audit.log_path().stat().st_size < audit.TAIL_WINDOW + 20_000:  # well past the window
        audit.write("execute", "u", tables=["person"], rows=rows, what="x" * 400)
        rows += 1
    lines = audit.log_path().read_bytes().splitlines(keepends=True)
    assert sum(map(len, lines[2:])) > audit.TAIL_WINDOW
    lines[1] = lines[1].replace(b'"rows": 0', b'"rows": 9')  # the first record after the genesis
    audit.log_path().write_bytes(b"".join(lines))
    assert append_in_subprocess("ailleurs").returncode == 0  # an old edit escapes the writers' check…
    report = audit.verify_at_start()  # …not the whole-log check the server runs at start
    assert problem_kinds(report) == ["modification"]
    with pytest.raises(audit.AuditError, match="vérification au démarrage"):
        audit.write("execute", "apres", rows=1)
    assert workbench("audit", "reset", "--raison", "ligne ancienne modifiée").returncode == 0
    assert audit.write("execute", "apres-reset", rows=1)["seq"] == 1  # a new file: the refusal is lifted


def test_reset_is_refused_on_an_intact_chain_and_without_a_reason(state: Path) -> None:
    fill(2)
    done = workbench("audit", "reset", "--raison", "pour voir")
    assert done.returncode == 1 and "chaîne intacte, rien à recommencer" in done.stderr
    with pytest.raises(Exception, match="--raison"):
        audit.reset(UserContext(), "   ")
    assert audit.verify().intact and len(list(audit.read())) == 3


def test_a_torn_tail_is_a_note_not_a_break(state: Path) -> None:
    fill(3)
    with (state / "audit.jsonl").open("ab") as handle:
        handle.write(b'{"seq": 4, "time": "2026-')  # a crash in the middle of a write
    report = audit.verify()
    assert report.intact and [note.kind for note in report.notes] == ["incomplete"]
    assert audit.write("execute", "suivant", rows=1)["seq"] == 4  # the next writer starts a fresh line
    report = audit.verify()
    assert report.intact and report.last_seq == 4


def test_concurrent_writers_in_several_processes_keep_one_valid_chain(state: Path) -> None:
    code = (
        "import sys, threading\n"
        "from workbench import audit\n"
        "def run(thread):\n"
        "    for index in range(40):\n"
        "        audit.write('execute', f'p{sys.argv[1]}-t{thread}', rows=index)\n"
        "threads = [threading.Thread(target=run, args=(t,)) for t in range(3)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
    )
    processes = [subprocess.Popen([sys.executable, "-c", code, str(number)], env=dict(os.environ))
                 for number in range(4)]
    assert [process.wait(timeout=300) for process in processes] == [0, 0, 0, 0]
    report = audit.verify()
    assert report.intact, report.text()
    records = list(audit.read())
    assert [r["seq"] for r in records] == list(range(1 + 4 * 3 * 40))
    assert sorted(r["rows"] for r in records[1:]) == sorted(list(range(40)) * 12)


def test_a_failed_write_leaves_no_torn_record_and_the_query_is_not_answered(state: Path, demo_dir: Path) -> None:
    catalog = demo_dir / "catalog.yaml"
    fill(2)
    size = audit.log_path().stat().st_size
    # the file size limit lets the next record start and stops it half-way (a short write, then EFBIG)
    done = workbench("indicators", "compute", "nb_sejours", "--from", "2024-01", "--to", "2024-01", "--format", "csv",
                     catalog=catalog, limit=size + 100)
    assert done.returncode == 1, done.stderr
    assert "journal d'audit" in done.stderr and "écriture impossible" in done.stderr
    assert done.stdout == ""  # no figure handed out
    assert audit.log_path().stat().st_size == size  # cut back: no torn record
    assert audit.verify().intact
    done = workbench("indicators", "compute", "nb_sejours", "--from", "2024-01", "--to", "2024-01", "--format", "csv",
                     catalog=catalog)
    assert done.returncode == 0, done.stderr


@pytest.fixture()
def full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A state folder on a real 64 KB tmpfs (the tests run as root), to be filled up by the test."""
    folder = tmp_path / "petit-disque"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], check=True)
    try:
        monkeypatch.setenv("WORKBENCH_STATE", str(folder))
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_fails_the_query_closed(full_disk: Path, demo_dir: Path) -> None:
    from workbench.indicators.dictionary import load_dictionary
    from workbench.indicators.engine import compute
    from workbench.warehouse import open as open_warehouse

    fill(2)
    with (full_disk / "remplissage").open("wb", buffering=0) as filler:  # every free byte, as other files would
        with pytest.raises(OSError, match="No space left"):
            while True:
                filler.write(b"x" * 512)
    size = audit.log_path().stat().st_size
    warehouse = open_warehouse(demo_dir / "catalog.yaml", user=UserContext(name="dim", role="analyste_dim"))
    definition = load_dictionary(WIKI).get("nb_sejours").definition
    with pytest.raises(audit.AuditError, match="écriture impossible"):
        compute(definition, warehouse, start="2024-01", end="2024-01")
    assert audit.log_path().stat().st_size == size
    (full_disk / "remplissage").unlink()  # space again: the chain goes on, intact
    compute(definition, warehouse, start="2024-01", end="2024-01")
    assert audit.verify().intact


# --------------------------------------------------------------------------- untrusted fields, floods


@pytest.fixture()
def access_file(tmp_path: Path) -> Path:
    path = tmp_path / "access.yaml"
    users = {
        "dim.a": UserEntry(role="analyste_dim", password_hash=hash_password("dim-a")),
        "dim.b": UserEntry(role="analyste_dim", password_hash=hash_password("dim-b")),
    }
    save_access(AccessFile(path, Policy(min_count=10), users))
    return path


def test_a_one_megabyte_login_name_is_cut(access_file: Path) -> None:
    from workbench.access import authenticate

    name = "é" * 1_000_000
    assert authenticate(name, "n'importe", access_file, client="203.0.113.7") is None
    (login,) = [e for e in audit.read() if e["event"] == "login"]
    assert (login["user"], login["user_length"], login["ok"], login["client"]) == ("é" * 64, 1_000_000, False,
                                                                                  "203.0.113.7")
    assert audit.log_path().stat().st_size < 4_096


def test_an_event_field_cannot_overwrite_the_chain_or_the_identity(state: Path) -> None:
    for field in ("seq", "prev", "hash", "role", "time"):
        with pytest.raises(TypeError, match="réservé"):
            audit.write("execute", "mallory", **{field: "0"})
    assert not audit.log_path().exists()


def test_a_login_name_cannot_forge_a_record(access_file: Path) -> None:
    from workbench.access import authenticate

    forged = 'x"}\n{"seq": 2, "event": "login", "user": "admin", "ok": true}\u2028\r'
    assert authenticate(forged, "faux", access_file) is None
    raw = audit.log_path().read_bytes()
    assert raw.count(b"\n") == 2  # the genesis and one login line
    (login,) = [e for e in audit.read() if e["event"] == "login"]
    assert (login["user"], login["ok"]) == (forged, False) and audit.verify().intact


def test_a_long_field_is_cut_and_marked(state: Path) -> None:
    record = audit.write("refused", "bob", value="x" * 50_000, filters={"hospital": ["y" * 5_000] * 1_000})
    assert len(record["value"]) == audit.TEXT_LIMIT + 1 and record["truncated"] is True
    assert len(record["filters"]["hospital"]) == audit.ITEMS_LIMIT
    assert audit.log_path().stat().st_size < 300_000


def test_a_failed_login_flood_writes_a_few_lines_and_one_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000.0]
    monkeypatch.setattr(audit, "LOGINS", audit.LoginLimiter(clock=lambda: now[0]))
    for _ in range(40):
        audit.log_login("admin", False, client="198.51.100.9")
    audit.log_login("admin", True, client="198.51.100.9")  # a success is always written
    logins = [e for e in audit.read() if e["event"] == "login"]
    assert [e["ok"] for e in logins] == [False] * audit.LOGIN_BURST + [True]
    now[0] += audit.LOGIN_WINDOW  # the next window: the summary of the last one comes first
    audit.log_login("admin", False, client="198.51.100.9")
    summary, attempt = [e for e in audit.read() if e["event"] == "login"][-2:]
    assert (summary["outcome"], summary["suppressed"], summary["user"], summary["client"]) == (
        "suppressed", 40 - audit.LOGIN_BURST, "admin", "198.51.100.9")
    assert "non journalisée" in summary["message"] and attempt.get("outcome") is None
    # distinct names from one client: the global cap holds
    for index in range(audit.LOGIN_GLOBAL + 50):
        audit.log_login(f"devine{index}", False, client="198.51.100.9")
    audit.flush_login_summaries()
    window = [e for e in audit.read() if e["event"] == "login"][len(logins) + 2:]
    assert len([e for e in window if e.get("outcome") is None]) == audit.LOGIN_GLOBAL - 1
    (flood,) = [e for e in window if e.get("outcome") == "suppressed"]
    assert (flood["suppressed"], flood["user"]) == (51, None)
    assert audit.verify().intact


# --------------------------------------------------------------------------- completeness


def test_a_figure_served_from_the_cache_writes_its_own_line(demo_dir: Path, access_file: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboards import components as c
    from workbench.access import load_access, policy_key, user_context
    from workbench.indicators.dictionary import load_dictionary
    from workbench.warehouse import open as open_warehouse

    access = load_access(access_file)
    monkeypatch.setattr(c, "RESULTS", type(c.RESULTS)(8))
    dictionary = load_dictionary(WIKI)
    scopes = []
    for name in ("dim.a", "dim.b"):  # same role and perimeter: the same cache entry
        user = user_context(name, access.users[name], access)
        handle = open_warehouse(demo_dir / "catalog.yaml", user=user)
        scopes.append(c.Scope(str(demo_dir / "catalog.yaml"), policy_key(user), handle, dictionary))
    first = c.indicator_result("nb_sejours", ("hospital",), "2024-01", "2024-03", scope=scopes[0])
    again = c.indicator_result("nb_sejours", ("hospital",), "2024-01", "2024-03", scope=scopes[1])
    assert again is first
    served = [e for e in audit.read() if e["event"] == "indicator"]
    assert [(e["user"], e.get("cache", False)) for e in served] == [("dim.a", False), ("dim.b", True)]
    hit = served[1]
    assert (hit["indicator"], hit["by"], hit["period"], hit["cells"], hit["snapshot"]) == (
        "nb_sejours", ["hospital"], "2024-01/2024-03", len(first.frame), scopes[1].warehouse.snapshot_id)
    assert served[0]["snapshot"] == hit["snapshot"]


def test_monthly_volumes_served_again_are_audited_again(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalogue's monthly volumes (rows per view, hospital and month) used to sit in `pn.cache`: a second
    serve wrote nothing. Login off here: the served user is the local administrator."""
    from dashboards import catalogue
    from dashboards import components as c

    monkeypatch.setenv("WORKBENCH_CATALOG", str(demo_dir / "catalog.yaml"))
    monkeypatch.setattr(c, "RESULTS", type(c.RESULTS)(8))
    first = catalogue.volumes()
    assert catalogue.volumes() is first
    served = [e for e in audit.read() if e.get("what") == "volumes"]
    assert [(e["event"], e["user"], e["rows"], e["cache"]) for e in served] == [("execute", "local", len(first), True)]
    computed = [e for e in audit.read() if e["event"] == "execute" and not e.get("cache")]
    assert computed and {e["user"] for e in computed} == {"local"}


def test_the_warm_up_writes_under_the_system_identity(demo_dir: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody asked for the warm-up's figures: none of its lines may name an account (it used to write
    `pilotage` and `entrepot`, who never logged in). The accounts here are patient-level (no protected
    cube to pre-compute: that cube costs minutes on a shared test machine); the policy accounts' loop
    opens the warehouse through the same `audit.as_system`."""
    from dashboards import components as c
    from dashboards.warmup import warm_up

    access = tmp_path / "comptes.yaml"
    save_access(AccessFile(access, Policy(min_count=10), {
        "dim.a": UserEntry(role="analyste_dim", password_hash=hash_password("dim-a")),
        "cardio": UserEntry(role="clinicien", perimeter=("014-S03",), password_hash=hash_password("cardio")),
    }))
    monkeypatch.setenv("WORKBENCH_CATALOG", str(demo_dir / "catalog.yaml"))
    monkeypatch.setenv("WORKBENCH_WIKI", str(WIKI))
    monkeypatch.setenv("WORKBENCH_AUTH", "1")
    monkeypatch.setenv("WORKBENCH_ACCESS", str(access))
    monkeypatch.setattr(c, "RESULTS", type(c.RESULTS)(64))
    warm_up()
    records = list(audit.read())[1:]
    kinds = {e["event"] for e in records}
    assert {"execute", "indicator"} <= kinds, kinds  # figures, quality checks, table summary were computed
    assert {(e["user"], e["role"], e["as_role"]) for e in records} == {(audit.SYSTEM_NAME, audit.SYSTEM_ROLE, "admin")}


def test_figures_printed_on_stdout_are_audited_with_surface_and_snapshot(demo_dir: Path) -> None:
    import duckdb

    done = workbench("indicators", "compute", "nb_sejours", "--by", "hospital", "--from", "2024-03", "--to", "2024-03",
                     "--format", "csv", catalog=demo_dir / "catalog.yaml")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line and not line.startswith("#")][1:]
    with duckdb.connect(str(demo_dir / "eds.duckdb"), read_only=True) as con:
        (snapshot,) = con.execute("select snapshot_id from _metadata").fetchone()
    (indicator,) = [e for e in audit.read() if e["event"] == "indicator"]
    (export,) = [e for e in audit.read() if e["event"] == "export"]
    assert (indicator["surface"], indicator["snapshot"], indicator["cells"]) == ("cli", snapshot, len(rows))
    assert (export["destination"], export["rows"], export["surface"], export["indicator"]) == (
        "stdout", len(rows), "cli", "nb_sejours")


def test_a_static_site_build_is_audited(tmp_path: Path, demo_dir: Path) -> None:
    out = tmp_path / "site"
    done = workbench("wiki", "build", "--wiki", str(WIKI), "--out", str(out), "--sans-donnees",
                     catalog=demo_dir / "catalog.yaml")
    assert done.returncode == 0, done.stderr
    (export,) = [e for e in audit.read() if e["event"] == "export"]
    pages = len(list(out.rglob("*.html")))
    assert (export["surface"], export["destination"], export["what"], export["rows"]) == (
        "site", str(out), "wiki build", pages)


def test_a_notebook_run_is_audited_with_each_file_it_writes(tmp_path: Path, demo_dir: Path) -> None:
    templates = tmp_path / "modeles"
    templates.mkdir()
    (templates / "mini.py").write_text(
        '# %% [markdown]\n# # Mini\n#\n# Un seuil affiché.\n\n# %% tags=["parameters"]\n'
        'catalog: str = ""  # catalogue\nseuil: float = 0.5  # seuil\n\n# %%\nprint(seuil)\n', encoding="utf-8")
    out = tmp_path / "mini.ipynb"
    done = workbench("notebook", "run", "mini", "--templates", str(templates), "--param", "seuil=0.7", "--out", str(out),
                     "--html", catalog=demo_dir / "catalog.yaml")
    assert done.returncode == 0, done.stderr
    exports = [e for e in audit.read() if e["event"] == "export"]
    assert [(e["destination"], e["format"], e["surface"], e["what"]) for e in exports] == [
        (str(out), "ipynb", "notebook", "notebook run mini"),
        (str(out.with_suffix(".html")), "html", "notebook", "notebook run mini")]
    assert out.is_file() and out.with_suffix(".html").is_file() and exports[0]["params"] == {"seuil": "0.7"}
