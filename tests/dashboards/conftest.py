"""A real `workbench serve` in a subprocess and a real Chromium driven by Playwright.

One server per test module (starting one costs a few seconds); the browser is
shared by the session (`browser` in tests/conftest.py). Screenshots go to ``test-artifacts/`` so a failing run
can be inspected after the fact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from dashboard_support import ARTIFACTS, BOKEH_IDLE, Server, start_server, stop_server


@pytest.fixture(scope="module")
def demo_catalog(demo_dir: Path) -> Path:
    return Path(demo_dir) / "catalog.yaml"


@pytest.fixture(scope="module")
def demo_database(demo_dir: Path) -> Path:
    return Path(demo_dir) / "eds.duckdb"


@pytest.fixture(scope="module")
def month(demo_catalog: Path) -> str:
    """The page's default end of period: the month before the extraction date."""
    from workbench.warehouse import open as open_warehouse

    day = open_warehouse(catalog=demo_catalog).extraction_date
    index = day.year * 12 + day.month - 2
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@pytest.fixture(scope="module")
def server(demo_catalog: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """One served app per test module, against the session's demo warehouse."""
    running = start_server(demo_catalog, request.module.__name__.rsplit(".", 1)[-1])
    yield running
    stop_server(running)
    assert running.process.returncode is not None


@pytest.fixture
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser context per test; a screenshot is kept whatever the outcome."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.set_default_timeout(120_000)
    yield tab
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()


@pytest.fixture
def open_page(page: object, server: Server):
    """Open a path of the served app and wait until Bokeh has rendered it (no fixed sleep)."""

    def go(path: str = "/") -> object:
        page.goto(server.url + path)  # type: ignore[attr-defined]
        page.wait_for_function(BOKEH_IDLE)  # type: ignore[attr-defined]
        return page

    return go
