"""`workbench lab`: a real JupyterLab server, checked through its REST API and a real kernel."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from .helpers import PROJECT, TEMPLATE_IDS

TOKEN = "jeton-de-test"
STARTUP_LIMIT = 120.0
"""Seconds allowed for the server to listen: a readiness wait, not a timed assertion."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Lab:
    def __init__(self, port: int, workspace: Path, catalog: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.workspace = workspace
        self.catalog = catalog
        self.headers = {"Authorization": f"token {TOKEN}"}

    def get(self, path: str) -> Any:
        response = requests.get(self.base + path, headers=self.headers, timeout=30)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workspace = tmp_path_factory.mktemp("espace")
    catalog = tmp_path_factory.mktemp("cat") / "catalog.yaml"
    port = free_port()
    log = open(workspace.parent / "lab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "--catalog", str(catalog), "lab", "--port", str(port),
         "--workspace", str(workspace), "--token", TOKEN],
        cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k not in ("WORKBENCH_TEMPLATES", "WORKBENCH_CATALOG")},
    )
    handle = Lab(port, workspace, catalog)
    deadline = time.monotonic() + STARTUP_LIMIT
    try:
        while True:
            assert server.poll() is None, (workspace.parent / "lab.log").read_text()
            try:
                if requests.get(handle.base + "/api/status", headers=handle.headers, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("JupyterLab did not start: " + (workspace.parent / "lab.log").read_text())
            time.sleep(0.5)
        yield handle
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_lab_listens_on_localhost_only_and_requires_the_token(lab: Lab):
    assert requests.get(lab.base + "/api/contents", timeout=10).status_code == 403
    port = int(lab.base.rsplit(":", 1)[1])
    from jupyter_server.serverapp import list_running_servers

    ours = [server for server in list_running_servers() if server["port"] == port]
    assert len(ours) == 1 and ours[0]["hostname"] == "127.0.0.1"
    assert Path(ours[0]["root_dir"]) == lab.workspace
    try:
        addresses = socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:  # no resolvable host name: nothing but loopback to probe
        addresses = []
    for address in (a for a in addresses if not a.startswith("127.")):
        with socket.socket() as probe:
            assert probe.connect_ex((address, port)) != 0, f"reachable on {address}"


def test_templates_are_listed_in_the_workspace(lab: Lab):
    root = {item["name"]: item for item in lab.get("/api/contents")["content"]}
    assert root["modeles"]["type"] == "directory"
    copies = {item["name"]: item for item in lab.get("/api/contents/modeles")["content"]}
    assert set(copies) == {f"{name}.ipynb" for name in TEMPLATE_IDS}
    assert all(item["type"] == "notebook" and item["writable"] for item in copies.values())
    notebook = lab.get("/api/contents/modeles/pmsi_casemix.ipynb")["content"]
    assert notebook["metadata"]["kernelspec"]["name"] == "eds-workbench"
    injected = [c for c in notebook["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and f'catalog = "{lab.catalog.resolve()}"' in injected[0]["source"]


def test_project_kernel_is_the_default_and_starts(lab: Lab):
    specs = lab.get("/api/kernelspecs")
    assert specs["default"] == "eds-workbench"
    assert specs["kernelspecs"]["eds-workbench"]["spec"]["display_name"] == "EDS Workbench"
    response = requests.post(lab.base + "/api/kernels", headers=lab.headers, json={"name": "eds-workbench"}, timeout=30)
    assert response.status_code == 201, response.text
    kernel_id = response.json()["id"]
    try:
        code = "import os, workbench; print(os.environ['WORKBENCH_CATALOG'], workbench.__name__)"
        # A fresh thread has no event loop, whatever the session's browser left running in this one.
        with ThreadPoolExecutor(max_workers=1) as worker:
            output = worker.submit(asyncio.run, _execute(lab, kernel_id, code)).result()
        assert output.split() == [str(lab.catalog.resolve()), "workbench"]
        assert lab.get(f"/api/kernels/{kernel_id}")["execution_state"] in ("idle", "busy")
    finally:
        requests.delete(f"{lab.base}/api/kernels/{kernel_id}", headers=lab.headers, timeout=30)


async def _execute(lab: Lab, kernel_id: str, code: str) -> str:
    """Run `code` on the kernel over the server's websocket and return what it printed."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = lab.base.replace("http", "ws") + f"/api/kernels/{kernel_id}/channels"
    socket_ = await websocket_connect(HTTPRequest(url, headers=lab.headers))
    msg_id = uuid.uuid4().hex
    socket_.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    printed = []
    while True:
        raw = await asyncio.wait_for(socket_.read_message(), timeout=120)
        assert raw is not None, "kernel websocket closed"
        message = json.loads(raw)
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = message["header"]["msg_type"]
        if kind == "stream":
            printed.append(message["content"]["text"])
        elif kind == "error":
            raise AssertionError(message["content"]["evalue"])
        elif kind == "status" and message["content"]["execution_state"] == "idle":
            socket_.close()
            return "".join(printed)
