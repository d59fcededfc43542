"""Benchmark of the demo generator: time and peak memory at 20k, 100k and 1M patients.

Each build runs in its own subprocess so its peak RSS is its own. Warehouses
are cached outside the repository (``$WORKBENCH_BENCH_DATA``, default
``~/.cache/eds-workbench/bench/<N>/``) for the other benchmarks to reuse; a
cached warehouse of the same size, seed and generator version is not rebuilt
(its last measured figures are reported) unless ``--rebuild`` is given.

    .venv/bin/python benchmarks/generate.py --sizes 20000 100000 [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from workbench.demo import GENERATOR_VERSION

DEFAULT_SIZES = [20_000, 100_000, 1_000_000]
CHILD = """
import json, resource, sys
from pathlib import Path
from workbench.demo import build_demo
build_demo(Path(sys.argv[1]), patients=int(sys.argv[2]), seed=int(sys.argv[3]), progress=False)
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def cache_root() -> Path:
    value = os.environ.get("WORKBENCH_BENCH_DATA")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "eds-workbench" / "bench"


def _cached(folder: Path, patients: int, seed: int) -> bool:
    """Whether ``folder`` holds a warehouse of this size, seed and generator version."""
    database = folder / "eds.duckdb"
    if not database.is_file():
        return False
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            generator, cached_seed, n_patients = con.execute("SELECT generator, seed, n_patients FROM _metadata").fetchone()
    except duckdb.Error:
        return False
    return (generator, cached_seed, n_patients) == (f"eds-workbench-demo {GENERATOR_VERSION}", seed, patients)


def build(folder: Path, patients: int, seed: int) -> dict:
    """Build in a subprocess; return seconds and peak RSS of that process."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(patients), str(seed)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"build of {patients} patients failed:\n{result.stderr}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    with duckdb.connect(str(folder / "eds.duckdb"), read_only=True) as con:
        rows = {table: con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in ("visit_occurrence", "visit_detail", "condition_occurrence", "measurement")}
    return {"patients": patients, "seed": seed, "seconds": round(seconds, 1), "seconds_per_100k": round(seconds / patients * 100_000, 1),
            "peak_mb": round(figures["peak_mb"]), "rows": rows, "generator": GENERATOR_VERSION}


def ensure_warehouse(patients: int, seed: int = 42, data: Path | None = None) -> Path:
    """The folder of a demo warehouse of `patients` for another benchmark: `data`, else the cache; built when missing."""
    folder = data or cache_root() / str(patients)
    if not (folder / "eds.duckdb").is_file():
        print(f"building a {patients}-patient demo warehouse in {folder}…", flush=True)
        build(folder, patients, seed)
    return folder


def timed(function, *args, **kwargs) -> tuple[float, object]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rebuild", action="store_true", help="rebuild and re-measure even when cached")
    args = parser.parse_args(argv)
    print(f"{'patients':>10} {'seconds':>8} {'s/100k':>7} {'peak MB':>8}  stays / movements / diagnoses / results")
    for patients in args.sizes:
        folder = cache_root() / str(patients)
        record = folder / "bench.json"
        if not args.rebuild and _cached(folder, patients, args.seed) and record.is_file():
            figures, note = json.loads(record.read_text()), "(cache)"
        else:
            figures, note = build(folder, patients, args.seed), ""
            record.write_text(json.dumps(figures, indent=1))
        rows = " / ".join(f"{count:,}".replace(",", " ") for count in figures["rows"].values())
        print(f"{patients:>10} {figures['seconds']:>8} {figures['seconds_per_100k']:>7} {figures['peak_mb']:>8}  {rows} {note}", flush=True)


if __name__ == "__main__":
    main()
