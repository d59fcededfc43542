"""Benchmark: the cost of protecting linked tables — the référent's cube for one year, before and after.

Before (per-indicator protection): each indicator's lattice (60 engine queries
with the four attributes) masked on its own (primary, complementary to a fixed
point, exact check of its own equations). After (one release,
`workbench.access.release`): every indicator's lattice, the per-stay frames of
the additive indicators (the atoms), and the joint masking over the combined
system. Both are timed for the year the Pilotage page opens on (the last
complete year), with the views materialised first so neither pays for them;
"page" is what the default Pilotage view needed before (its KPI and detail
indicators) — after the change every request needs the whole release once per
snapshot, kept in memory and in the state folder.

Usage: ``python benchmarks/release.py --catalog DIR/catalog.yaml [--year 2025]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import workbench  # noqa: E402
from workbench.access import disclosure, release  # noqa: E402
from workbench.indicators.engine import compute  # noqa: E402

PAGE = ("nb_sejours", "dms", "mortalite_hospitaliere")
"""The default Pilotage view's indicators (KPI cards and detail table)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--year", type=int, default=None, help="default: the last complete year")
    parser.add_argument("--k", type=int, default=10)
    arguments = parser.parse_args()
    os.environ.setdefault("WORKBENCH_STATE", tempfile.mkdtemp(prefix="bench-release-"))
    source = workbench.open(arguments.catalog)
    extraction = source.extraction_date or dt.date.today()
    year = arguments.year or (extraction.year if extraction.month == 12 else extraction.year - 1)
    definitions = release.dictionary_definitions()
    compute(next(d for d in definitions if d.id == "nb_sejours"), source, by=["year"], start=f"{year}-01",
            end=f"{year}-12", grain="year")  # materialise the views outside the timings
    members = [m for m in (release.member(d, year) for d in sorted(definitions, key=lambda d: d.id)) if m]
    queries, alone, tables = {}, {}, {}
    for m in members:
        began = time.perf_counter()
        frames = {level: compute(m.definition, source, by=by, start=f"{year}-01", end=f"{year}-12",
                                 grain=disclosure.TIME_LEVELS[level[1] - 1], version=m.version.version)
                  for level, by in disclosure.levels(m.definition).items()}
        queries[m.id] = time.perf_counter() - began
        if all(result.available for result in frames.values()):
            tables[m.id] = release.table(m, frames)
            began = time.perf_counter()
            disclosure.suppress({key: n for (_, _, key), n in tables[m.id].patients.items()}, arguments.k)
            alone[m.id] = time.perf_counter() - began
    began = time.perf_counter()
    linked = release.atom_equations(tables, source, year)
    atoms = time.perf_counter() - began
    began = time.perf_counter()
    masked = release.suppress_jointly(tables, linked, arguments.k)
    joint = time.perf_counter() - began
    page = sum(queries[i] + alone.get(i, 0.0) for i in PAGE)
    every = sum(queries.values()) + sum(alone.values())
    after = sum(queries.values()) + atoms + joint
    cells = sum(len(t.patients) for t in tables.values())
    print(f"{arguments.catalog} — year {year}, k = {arguments.k}, {len(members)} indicators, {cells} cells")
    print(f"before: default page {page:.1f} s; every indicator one by one {every:.1f} s "
          f"(queries {sum(queries.values()):.1f} s, suppression {sum(alone.values()):.1f} s)")
    print(f"after: one release {after:.1f} s (queries {sum(queries.values()):.1f} s, atoms {atoms:.1f} s, "
          f"joint suppression {joint:.1f} s); masked {len(masked)} cells")


if __name__ == "__main__":
    main()
