"""Every runnable example of the README, docs/ and the wiki's Guide runs, as written, against the small demo.

Why: documentation drifts when nothing runs it (a README command that needed
an option added later, a guide naming a template that never existed). The
convention, checked here: a block fenced ``sh`` or ``python`` is runnable and
is run; synopses (``list|show NAME``), examples needing the network or a
certificate, and file contents are fenced ``text`` or ``yaml``; no other fence.

How each command runs (a real `workbench` subprocess, in a terminal so that
a password prompt can be answered):

- in a fresh working folder, against the session's 2,000-patient demo
  (``$WORKBENCH_CATALOG``), one accounts file and one state folder shared by
  the whole module (so the protected release is computed once), and a
  deployment file naming them for ``--utilisateur`` (tests/deployment_support.py);
  pages of the wiki run from a copy of the wiki (``--wiki .``), docs/performance.md
  from the project folder (its commands name ``benchmarks/`` and ``.venv/``);
- a password prompt gets the demo account's password from the README's table
  (a new account, ``users add``, gets a fixed one);
- sizes are made small: ``--patients`` is the demo's (the benchmarks then read the
  session demo through ``$WORKBENCH_BENCH_DATA``), ``--duration``/``--warmup``/
  ``--rounds`` of the load benchmark a few seconds and one round; a command that
  becomes identical to one already run in its block is not run twice;
- servers (``workbench serve``, ``workbench lab``) are started on a free port,
  probed until their page (the login page) answers 200, and stopped;
- ``make`` targets are dry-run (``make -n``): running them would reinstall the
  shared virtual environment or start the suite inside itself; the commands
  they wrap are examples of their own.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest

from demo_settings import DEMO_PATIENTS
from deployment_support import write_deployment

sys.path.insert(0, str(Path(__file__).resolve().parent / "dashboards"))  # the served-app helpers
from dashboard_support import free_port  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted([PROJECT / "README.md", *(PROJECT / "docs").glob("*.md"), *(PROJECT / "wiki" / "Guide").glob("*.md")])
RUNNABLE = {"sh", "python"}
NOT_RUN = {"text", "yaml"}
WORKING_FOLDERS = {"wiki/Guide/Contribuer-au-dictionnaire.md": "wiki", "docs/performance.md": "."}
"""Where a page's commands run, when not in a fresh folder: a copy of the wiki (``.``), or the project."""
SMALL = {"--patients": str(DEMO_PATIENTS), "--duration": "20", "--warmup": "5", "--rounds": "1"}
SERVERS = (("workbench", "serve"), ("workbench", "lab"))
NEW_PASSWORD = "docs-test-password"
COMMAND_TIMEOUT = 900
SERVER_TIMEOUT = 180.0
PROMPTS = [r"Mot de passe de (\S+?)\s*:", r"Mot de passe\s*:", r"Confirmation\s*:", pexpect.EOF]


@dataclass(frozen=True)
class Block:
    """One fenced block of a document: where it starts (1-based line of the fence), its language, its text."""

    document: str
    line: int
    language: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, in order."""
    found: list[Block] = []
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.startswith("```"):
            if opened is not None:
                body.append(line)
            continue
        if opened is None:
            opened, body = (number, line[3:].strip()), []
        else:
            found.append(Block(str(path.relative_to(PROJECT)), opened[0], opened[1], "\n".join(body)))
            opened = None
    if opened is not None:
        raise AssertionError(f"{path}:{opened[0]} : bloc de code non fermé")
    return found


ALL_BLOCKS = [block for path in DOCUMENTS for block in fenced_blocks(path)]
RUNNABLE_BLOCKS = [block for block in ALL_BLOCKS if block.language in RUNNABLE]


def shell_commands(text: str) -> list[str]:
    """The block's commands: continuation lines joined, blank and comment-only lines dropped."""
    commands: list[str] = []
    pending = ""
    for line in text.splitlines():
        if pending:
            line = pending + " " + line.strip()
            pending = ""
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1].rstrip()
            continue
        if line.strip() and not line.strip().startswith("#"):
            commands.append(line.strip())
    assert not pending, f"ligne de continuation sans suite : {pending}"
    return commands


def words(command: str) -> list[str]:
    """The command's words without comments and without leading ``NAME=value`` assignments."""
    argv = shlex.split(command, comments=True)
    while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", argv[0]):
        argv.pop(0)
    return argv


def smaller(command: str) -> str:
    """The command with its size options (``--patients``…) set to the test's small values."""
    for option, value in SMALL.items():
        command = re.sub(rf"{option}(\s+|=)\d+", f"{option} {value}", command)
    return command


def demo_passwords() -> dict[str, str]:
    """The demo accounts' passwords, as the README's table gives them."""
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", (PROJECT / "README.md").read_text(encoding="utf-8"), re.M)
    assert rows, "README.md : tableau des comptes de démonstration introuvable"
    return dict(rows)


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> dict[str, str]:
    """The environment of every example: the demo, shared accounts and state, a deployment naming them."""
    root = tmp_path_factory.mktemp("docs")
    access = root / "accounts" / "access.yaml"
    access.parent.mkdir()
    shutil.copy(PROJECT / "access.yaml", access)
    state = root / "state"
    bench = root / "bench"
    bench.mkdir()
    (bench / str(DEMO_PATIENTS)).symlink_to(demo_dir)
    catalog = demo_dir / "catalog.yaml"
    deployment = write_deployment(root / "deployment", access=access, catalog=catalog, state=state)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("WORKBENCH_") and key not in ("PYTHONWARNINGS",)}
    env.update({
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "WORKBENCH_CATALOG": str(catalog), "WORKBENCH_ACCESS": str(access), "WORKBENCH_STATE": str(state),
        "WORKBENCH_CONFIG": str(deployment), "WORKBENCH_BENCH_DATA": str(bench),
        "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "160",
    })
    return env


def working_folder(block: Block, tmp_path: Path) -> Path:
    """A fresh folder, a copy of the wiki, or the project folder, as WORKING_FOLDERS says."""
    where = WORKING_FOLDERS.get(block.document)
    if where == ".":
        return PROJECT
    folder = tmp_path / "work"
    if where is None:
        folder.mkdir()
    else:
        shutil.copytree(PROJECT / where, folder)
    return folder


def run_command(command: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run `command` with bash in a terminal, answering password prompts; its exit status and output."""
    passwords = demo_passwords()
    child = pexpect.spawn("bash", ["-c", command], cwd=str(cwd), env=env, encoding="utf-8",
                          timeout=COMMAND_TIMEOUT, dimensions=(50, 160))
    output: list[str] = []
    while True:
        answer = child.expect(PROMPTS)
        output.append(child.before or "")
        if answer == 0:
            account = child.match.group(1)
            assert account in passwords, f"mot de passe demandé pour un compte inconnu du README : {account}"
            child.sendline(passwords[account])
        elif answer in (1, 2):
            child.sendline(NEW_PASSWORD)
        else:
            break
    child.close()
    return child.exitstatus if child.exitstatus is not None else -(child.signalstatus or 1), "".join(output)


def probe_server(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    """Start the server on a free port, wait for its page (HTTP 200, a password field), stop it."""
    port = str(free_port())
    if "--port" in argv:
        argv[argv.index("--port") + 1] = port
    else:
        argv += ["--port", port]
    log = cwd / f"server-{port}.log"
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT
        page = ""
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                    status, page = response.status, response.read().decode("utf-8", "replace")
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert process.poll() is None, f"{' '.join(argv)} s'est arrêté :\n{log.read_text()[-3000:]}"
        assert 'type="password"' in page, f"{' '.join(argv)} : pas de page de connexion :\n{page[:2000]}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_every_block_is_fenced_by_the_convention() -> None:
    """A fence without a language (or ``bash``, ``console``…) would escape the runs below."""
    wrong = [f"{block.id} ({block.language or 'sans langage'})" for block in ALL_BLOCKS
             if block.language not in RUNNABLE | NOT_RUN]
    assert not wrong, "blocs hors convention (sh/python exécutés, text/yaml non) : " + ", ".join(wrong)


@pytest.mark.parametrize("block", RUNNABLE_BLOCKS, ids=lambda block: block.id)
def test_documented_example_runs(block: Block, setting: dict[str, str], tmp_path: Path) -> None:
    cwd = working_folder(block, tmp_path)
    if block.language == "python":
        script = tmp_path / "example.py"
        script.write_text(block.text, encoding="utf-8")
        result = subprocess.run([sys.executable, str(script)], cwd=cwd, env=setting, capture_output=True,
                                text=True, timeout=COMMAND_TIMEOUT)
        assert result.returncode == 0, f"{block.id} :\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        return
    done: set[str] = set()
    for command in map(smaller, shell_commands(block.text)):
        if command in done:
            continue
        done.add(command)
        argv = words(command)
        if tuple(argv[:2]) in SERVERS:
            probe_server(argv, cwd, setting)
        elif argv[0] == "make":
            result = subprocess.run(["make", "-n", *argv[1:]], cwd=PROJECT, env=setting, capture_output=True,
                                    text=True, timeout=60)
            assert result.returncode == 0, f"{block.id} : {command}\n{result.stdout}\n{result.stderr}"
        else:
            status, output = run_command(command, cwd, setting)
            assert status == 0, f"{block.id} : {command} (code {status})\n{output[-4000:]}"
