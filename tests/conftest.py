"""Session fixtures shared by every test folder: the vocabularies and one small demo warehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo_settings import DEMO_PATIENTS, DEMO_SEED
from workbench import paths


@pytest.fixture(scope="session", autouse=True)
def session_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One state folder (audit log, quality runs, reports) for the whole session, never the project's `.workbench/`.

    The audit log is a hash chain that refuses to go on after a truncation, so a
    test must not share it with a developer's own runs; tests that need a fresh
    log still set ``WORKBENCH_STATE`` themselves. Subprocesses inherit it.
    """
    folder = tmp_path_factory.mktemp("state")
    previous = os.environ.get("WORKBENCH_STATE")
    os.environ["WORKBENCH_STATE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("WORKBENCH_STATE", None)
    else:
        os.environ["WORKBENCH_STATE"] = previous


@pytest.fixture(autouse=True)
def workbench_environment() -> Iterator[None]:
    """Each test starts with the session's ``WORKBENCH_*`` variables and leaves them so.

    A command run in-process sets some for its whole process, as it should in
    production (`workbench serve` names its accounts file, `--utilisateur` the
    deployment's paths); in the test process that would leak into every later
    test, and a later `--utilisateur` run would then be refused as a caller's override.
    """
    saved = {name: value for name, value in os.environ.items() if name.startswith("WORKBENCH_")}
    yield
    for name in [name for name in os.environ if name.startswith("WORKBENCH_") and name not in saved]:
        del os.environ[name]
    os.environ.update(saved)


@pytest.fixture(scope="session")
def vocab_dir() -> Path:
    """The French nomenclatures (``$WORKBENCH_VOCAB``, else the copy shipped in the package)."""
    folder = paths.vocab_path()
    assert (folder / "cim10_fr.csv.gz").is_file(), f"vocabularies not found in {folder}"
    return folder


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, vocab_dir: Path) -> Path:
    """A 2,000-patient, seed-42 demo warehouse built once per session (eds.duckdb, parquet/, flaws.json, catalog.yaml)."""
    from workbench.demo import build_demo

    out = tmp_path_factory.mktemp("demo") / "warehouse"
    build_demo(out, patients=DEMO_PATIENTS, seed=DEMO_SEED, vocab=vocab_dir, progress=False)
    return out


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local SparkSession for the whole test session (reused if another suite made it): the semantic
    layer's parity tests and the cohorts' sampling test share it."""
    from workbench.connections import local_spark_session

    session = local_spark_session()
    yield session


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """One Debian Chromium for the whole session, driven by Playwright's sync API.

    Shared because Playwright's sync API keeps an event loop running in the main
    thread while it is open: a second `sync_playwright()` (or `asyncio.run`) in
    the same session would fail. `make test` installs Chromium; a missing one is
    an error, not a skip.
    """
    assert CHROMIUM.exists(), "Chromium de Debian absent (/usr/bin/chromium) : lancez `make test`, qui l'installe"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
