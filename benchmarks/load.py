"""Benchmark: the Pilotage page under load (scripted websocket sessions plus one real browser).

One `workbench serve --no-auth` is started on a demo warehouse (20,000 patients
by default). Meanwhile:

- ``--sessions`` scripted sessions (20 by default), driven at websocket level
  with the Bokeh protocol and no browser: each one GETs ``/pilotage`` (Panel
  builds the page and returns the session's token), opens ``/pilotage/ws``,
  pulls the document, announces ``document_ready`` (so the deferred cards,
  series and breakdown are computed, as for a browser), then changes the
  hospital or the PMSI field (at most ``--changes`` times, think time 1-3 s),
  each time waiting until the server has been quiet for ``QUIET`` seconds
  (bounded by ``--change-timeout``; the time reported is until the last
  patch, an approximation of the server side only). They stop when the
  browser has finished, or at ``--duration``.
- one Chromium (Playwright) opens the page before the load starts, then,
  ``--warmup`` seconds into the load, measures the filter change to idle with
  ``benchmarks/dashboard.py``'s own functions (``choose``: every card
  shows the engine's value, the breakdown is by pole, Bokeh idle), over
  ``--hospitals`` hospitals chosen ``--rounds`` times.

Printed (JSON): p50/p95 of the browser's filter changes under load, the
scripted sessions' own change times, and the server's peak RSS (``VmHWM`` of
``/proc/<pid>/status``, plus the highest ``VmRSS`` sampled every 0.5 s).

Profiling one filter change (``--profile``): no load; the server is started
with a ``sitecustomize`` hook (written to a temporary folder put on
``PYTHONPATH``, the app is untouched) that starts pyinstrument (cProfile when
pyinstrument is absent) on ``SIGUSR1`` and writes the report on ``SIGUSR2``.
The browser renders the page, the profiler is started, one hospital is chosen
(a cold request) until idle, and the report is printed.

Usage: ``python benchmarks/load.py [--patients 20000] [--sessions 20] [--changes 6]``
and ``python benchmarks/load.py --profile [--profile-out FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dashboard as measure
from dashboard_support import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server

QUIET = 1.0
"""Seconds without a message from the server after which a scripted change counts as done."""


# --------------------------------------------------------------------------- server memory

def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


class MemorySampler(threading.Thread):
    """VmRSS every 0.5 s until stopped (a bounded loop: it ends with the server or on stop)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_rss, self.stop_event = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.5):
            try:
                self.peak_rss = max(self.peak_rss, memory_kib(self.pid).get("VmRSS", 0))
            except OSError:
                return


# --------------------------------------------------------------------------- scripted sessions (Bokeh protocol)

def _frames(msgtype: str, content: dict[str, Any]) -> list[str]:
    header = {"msgid": uuid.uuid4().hex, "msgtype": msgtype}
    return [json.dumps(header), json.dumps({}), json.dumps(content)]


def _find_select(node: Any, css_class: str) -> dict[str, Any] | None:
    """The Bokeh Select model (as serialised) carrying `css_class`."""
    if isinstance(node, dict):
        attributes = node.get("attributes")
        if node.get("type") == "object" and isinstance(attributes, dict) and "options" in attributes \
                and css_class in (attributes.get("css_classes") or []):
            return node
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_select(child, css_class)
        if found is not None:
            return found
    return None


def _option_values(model: dict[str, Any]) -> list[str]:
    values = []
    for option in model["attributes"]["options"]:
        values.append(option[0] if isinstance(option, list) else option)
    return values


class Stats:
    def __init__(self) -> None:
        self.changes: list[float] = []
        self.first_loads: list[float] = []
        self.errors: list[str] = []
        self.active = 0
        self.done = 0
        self.stop = threading.Event()
        """Set when the browser has finished: the scripted sessions then end after their current change."""


async def scripted_session(number: int, base: str, url_path: str, changes: int, change_timeout: float,
                           deadline: float, stats: Stats) -> None:
    from bokeh.protocol import Protocol
    from bokeh.protocol.receiver import Receiver
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    rng = random.Random(number)
    receiver = Receiver(Protocol())
    stats.active += 1
    connection = None
    try:
        began = time.perf_counter()
        response = await AsyncHTTPClient().fetch(base + url_path, request_timeout=120)
        token = re.search(r'"token":\s*"([^"]+)"', response.body.decode()).group(1)
        host = base.split("//", 1)[1]
        request = HTTPRequest(f"ws://{host}/pilotage/ws", headers={"Origin": base}, request_timeout=60)
        connection = await websocket_connect(request, subprotocols=["bokeh", token], max_message_size=1 << 30)

        async def receive(timeout: float) -> Any | None:
            """The next complete Bokeh message, or None after `timeout` seconds of silence."""
            while True:
                fragment = await asyncio.wait_for(connection.read_message(), timeout)
                if fragment is None:
                    raise ConnectionError("websocket fermée par le serveur")
                message = await receiver.consume(fragment)
                if message is not None:
                    return message

        async def until_quiet(limit: float) -> None:
            stop = time.perf_counter() + limit
            while time.perf_counter() < stop:
                try:
                    await receive(min(QUIET, max(0.05, stop - time.perf_counter())))
                except TimeoutError:
                    return

        async def send(msgtype: str, content: dict[str, Any]) -> None:
            for frame in _frames(msgtype, content):
                await connection.write_message(frame)

        ack = await receive(60)
        assert ack.msgtype == "ACK", ack.msgtype
        await send("PULL-DOC-REQ", {})
        while (reply := await receive(60)).msgtype != "PULL-DOC-REPLY":
            pass
        document = reply.content["doc"]
        hospital, stay_type = _find_select(document, "wb-hopital"), _find_select(document, "wb-champ")
        if hospital is None or stay_type is None:
            raise RuntimeError("sélecteurs wb-hopital / wb-champ introuvables dans le document")
        ready = {"type": "event", "name": "document_ready", "values": {"type": "map", "entries": []}}
        await send("PATCH-DOC", {"events": [{"kind": "MessageSent", "msg_type": "bokeh_event", "msg_data": ready}]})
        await until_quiet(change_timeout)
        stats.first_loads.append(time.perf_counter() - began)
        for _ in range(changes):
            if time.perf_counter() + 1 > deadline or stats.stop.is_set():
                break
            await asyncio.sleep(rng.uniform(1.0, 3.0))
            model = hospital if rng.random() < 0.7 else stay_type
            current = model["attributes"].get("value")
            value = rng.choice([option for option in _option_values(model) if option != current])
            model["attributes"]["value"] = value
            event = {"kind": "ModelChanged", "model": {"id": model["id"]}, "attr": "value", "new": value}
            began = time.perf_counter()
            await send("PATCH-DOC", {"events": [event]})
            await receive(change_timeout)  # the server's first answer, then its patches until it is quiet
            await until_quiet(min(change_timeout, max(1.0, deadline - time.perf_counter())))
            stats.changes.append(time.perf_counter() - began - QUIET)
    except Exception as error:  # noqa: BLE001 - counted and reported, the other sessions go on
        stats.errors.append(f"session {number}: {type(error).__name__}: {error}")
    finally:
        if connection is not None:
            connection.close()
        stats.active -= 1
        stats.done += 1


def load_thread(sessions: int, base: str, url_path: str, changes: int, change_timeout: float, duration: float,
                stats: Stats) -> threading.Thread:
    async def main() -> None:
        deadline = time.perf_counter() + duration
        tasks = []
        for number in range(sessions):  # staggered arrivals, 0.25 s apart
            tasks.append(asyncio.ensure_future(
                scripted_session(number, base, url_path, changes, change_timeout, deadline, stats)))
            await asyncio.sleep(0.25)
        await asyncio.wait(tasks, timeout=duration + 30)
        for task in tasks:
            task.cancel()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    return thread


# --------------------------------------------------------------------------- profiling hook

SITECUSTOMIZE = '''
import os, signal, sys
_OUT = os.environ.get("WORKBENCH_BENCH_PROFILE")
if _OUT:
    _state = {}
    def _start(*_):
        try:
            from pyinstrument import Profiler
            _state["p"] = Profiler(interval=0.001, async_mode="disabled"); _state["p"].start(); _state["kind"] = "pyinstrument"
        except ImportError:
            import cProfile
            _state["p"] = cProfile.Profile(); _state["p"].enable(); _state["kind"] = "cprofile"
    def _stop(*_):
        profiler = _state.pop("p", None)
        if profiler is None:
            return
        if _state["kind"] == "pyinstrument":
            profiler.stop()
            with open(_OUT, "w", encoding="utf-8") as out:
                out.write(profiler.output_text(unicode=True, color=False, show_all=False))
        else:
            import io, pstats
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(60)
            with open(_OUT, "w", encoding="utf-8") as out:
                out.write(text.getvalue())
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
'''


def profile(catalog: Path, output: Path) -> dict[str, Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=300_000)
    reference = measure.Reference(catalog, None)
    everywhere = {indicator: reference.value(indicator, None) for indicator in measure.CARDS}
    code, name = reference.members(1)[0]
    expected = {indicator: reference.value(indicator, code) for indicator in measure.CARDS}
    hook = Path(tempfile.mkdtemp(prefix="wb-profile-hook-"))
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])),
           "WORKBENCH_BENCH_PROFILE": str(output)}
    server = start_server(catalog, "benchmark_profile", env=env)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(server.url + f"/pilotage?debut={reference.start}&fin={reference.end}", timeout=300_000)
            measure.settled(page, everywhere, "hôpital")
            os.kill(server.pid, signal.SIGUSR1)
            time.sleep(0.2)
            seconds = measure.choose(page, reference, code, name, expected)
            os.kill(server.pid, signal.SIGUSR2)
            for _ in range(100):  # bounded: up to 10 s for the report to be written
                if output.is_file() and output.stat().st_size:
                    break
                time.sleep(0.1)
            browser.close()
    finally:
        stop_server(server)
    return {"filter_change_s": round(seconds, 3), "hospital": code, "profile": str(output)}


# --------------------------------------------------------------------------- the load run

def run(catalog: Path, args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=300_000)
    reference = measure.Reference(catalog, None)
    everywhere = {indicator: reference.value(indicator, None) for indicator in measure.CARDS}
    chosen = reference.members(args.hospitals)
    per_hospital = {code: {indicator: reference.value(indicator, code) for indicator in measure.CARDS} for code, _ in chosen}
    url_path = f"/pilotage?debut={reference.start}&fin={reference.end}"

    server = start_server(catalog, "benchmark_load")
    sampler = MemorySampler(server.pid)
    sampler.start()
    stats = Stats()
    figures: dict[str, Any] = {"catalog": str(catalog), "sessions": args.sessions, "max_changes_per_session": args.changes}
    try:
        idle = memory_kib(server.pid)
        browser_changes: list[float] = []
        active_during: list[int] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            # the browser's page is open before the load: only its filter changes are measured under load
            # (a first render queued behind 20 sessions' work measures the queue, see docs/performance.md)
            began = time.perf_counter()
            page.goto(server.url + url_path, timeout=300_000)
            measure.settled(page, everywhere, "hôpital")
            figures["browser_first_render_before_load_s"] = round(time.perf_counter() - began, 3)
            load = load_thread(args.sessions, server.url, url_path, args.changes, args.change_timeout, args.duration, stats)
            time.sleep(args.warmup)
            try:
                for _ in range(args.rounds):
                    for code, name in chosen:
                        active_during.append(stats.active)
                        browser_changes.append(measure.choose(page, reference, code, name, per_hospital[code]))
            finally:
                stats.stop.set()
            browser.close()
        load.join(timeout=args.duration + 60)
        memory = memory_kib(server.pid)
        figures.update({
            "browser_filter_changes": len(browser_changes),
            "browser_filter_change_p50_s": measure.percentile(browser_changes, 50),
            "browser_filter_change_p95_s": measure.percentile(browser_changes, 95),
            "browser_filter_change_max_s": round(max(browser_changes), 3),
            "browser_filter_change_all_s": [round(value, 3) for value in browser_changes],
            "scripted_sessions_active_at_each_browser_change": active_during,
            "scripted_first_load_p50_s": measure.percentile(stats.first_loads, 50),
            "scripted_first_load_p95_s": measure.percentile(stats.first_loads, 95),
            "scripted_changes": len(stats.changes),
            "scripted_change_p50_s": measure.percentile(stats.changes, 50),
            "scripted_change_p95_s": measure.percentile(stats.changes, 95),
            "scripted_sessions_completed": stats.done,
            "scripted_errors": stats.errors,
            "server_rss_before_load_mib": round(idle.get("VmRSS", 0) / 1024, 1),
            "server_peak_rss_sampled_mib": round(sampler.peak_rss / 1024, 1),
            "server_vmhwm_mib": round(memory.get("VmHWM", 0) / 1024, 1),
            "server_rss_end_mib": round(memory.get("VmRSS", 0) / 1024, 1),
        })
    finally:
        sampler.stop_event.set()
        stop_server(server)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--changes", type=int, default=40, help="at most this many widget changes per scripted session")
    parser.add_argument("--change-timeout", type=float, default=90.0, help="seconds allowed per scripted change")
    parser.add_argument("--duration", type=float, default=300.0,
                        help="scripted sessions stop after this many seconds (or as soon as the browser is done)")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds of load before the browser starts")
    parser.add_argument("--hospitals", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="times each hospital is chosen in the browser")
    parser.add_argument("--profile", action="store_true", help="profile one filter change instead (no load)")
    parser.add_argument("--profile-out", type=Path, default=Path("test-artifacts/filter_change_profile.txt"))
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit("Chromium Debian absent (/usr/bin/chromium) : apt-get install chromium")
    catalog = measure.ensure_data(measure.data_folder(args.patients, args.data), args.patients)
    if args.profile:
        args.profile_out.parent.mkdir(parents=True, exist_ok=True)
        args.profile_out.unlink(missing_ok=True)
        figures = profile(catalog, args.profile_out.resolve())
    else:
        figures = run(catalog, args)
    figures["patients"] = args.patients
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
