"""Benchmark: the whole quality set (AP-HP checks and the DQD-driven standard-OMOP set) on 20,000-patient warehouses.

- OMOP (CDM 5.4): the real Synthea27Nj export of the tests (28 persons,
  ``tests/fixtures/omop-synthea27nj/``) replicated until it holds `--patients`
  persons (every person-level table copied with its ids shifted; care sites,
  providers, locations and the vocabulary shared), written once to a DuckDB
  file with its catalogue (flavour ``omop``) under the benchmark data folder.
  Synthea is dense (≈ 350 measurements per person): the run reads ~10 M
  measurement rows at 20,000 persons, a worst case for the set.
- AP-HP: the demo built by ``benchmarks/generate.py`` (``<data>/<N>/``), when present.

For each: the wall and CPU time of ``run_checks`` (cold, first thing after opening),
checks per status, and for OMOP the DQD checks run next to the specification's
count per check type (`workbench.quality.dqd.coverage`).

Usage: ``python benchmarks/quality.py [--patients 20000] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from benchmarks.indicators import data_folder  # noqa: E402
from workbench.catalog import write_catalog  # noqa: E402
from workbench.quality import run_checks  # noqa: E402
from workbench.quality import dqd  # noqa: E402
from workbench.quality.context import CheckContext  # noqa: E402
from workbench.warehouse import open as open_warehouse  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SYNTHEA = ROOT / "tests" / "fixtures" / "omop-synthea27nj" / "Synthea27Nj_5.4.zip"
# tables shared by every copy (not about one person); their ids are not shifted
SHARED = {"care_site", "provider", "location", "cdm_source", "metadata", "cohort_definition", "source_to_concept_map"}
SHARED_IDS = {"care_site_id", "provider_id", "location_id", "cohort_definition_id"}


def build_omop(folder: Path, patients: int) -> Path:
    """The replicated Synthea export as `folder/eds.duckdb` and its catalogue (built once)."""
    catalog = folder / "catalog.yaml"
    if catalog.exists():
        return catalog
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "eds.duckdb"
    with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(SYNTHEA) as archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".csv") and not n.startswith("__MACOSX")]
        archive.extractall(scratch, members=names)
        with duckdb.connect(str(database)) as con:
            persons = con.execute(f"SELECT count(*) FROM read_csv('{scratch}/PERSON.csv', header=true)").fetchone()[0]
            copies = -(-patients // persons)
            con.execute(f"CREATE TABLE _copies AS SELECT range AS k FROM range({copies})")
            for name in names:
                table = Path(name).stem.lower()
                con.execute(f"CREATE TEMP TABLE _raw AS SELECT * FROM read_csv('{scratch}/{name}', header=true, "
                            "sample_size=-1)")
                types = dict(con.execute("SELECT lower(column_name), column_type FROM (DESCRIBE _raw)").fetchall())
                if table in SHARED or "person_id" not in types:
                    con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM _raw')
                else:
                    shifted = [
                        f'"{c}" + k * 100000000 AS "{c}"'
                        if c.endswith("_id") and not c.endswith("concept_id") and c not in SHARED_IDS
                        and types[c] in ("BIGINT", "INTEGER") else f'"{c}"'
                        for c in types
                    ]
                    con.execute(f'CREATE TABLE "{table}" AS SELECT {", ".join(shifted)} FROM _raw, _copies')
                con.execute("DROP TABLE _raw")
            con.execute("DROP TABLE _copies")
    write_catalog(database, "omop", catalog)
    return catalog


def measure(label: str, catalog: Path) -> None:
    warehouse = open_warehouse(catalog=catalog, backend="duckdb")
    started, cpu = time.perf_counter(), time.process_time()
    result = run_checks(warehouse)
    elapsed, used = time.perf_counter() - started, time.process_time() - cpu
    statuses = collections.Counter(r.status.value for r in result.results)
    dqd_count = sum(1 for r in result.results if r.id.startswith(dqd.PREFIX))
    # CPU time (every thread of the process, DuckDB's included) does not depend on what else the machine runs
    print(f"{label}: {len(result.results)} checks ({dqd_count} DQD) in {elapsed:.1f} s wall, {used:.1f} s CPU "
          f"— {dict(statuses)}")
    for row in dqd.coverage(CheckContext(warehouse), result.results):
        print(f"  {row['check']:<36} spec {row['spec_tables_present']:>4}  ours {row['ours']:>4}  passed "
              f"{row['passed']:>4}  failed {row['failed']:>4}  n/a {row['not_applicable']:>4}  error {row['error']}")
    errors = [r for r in result.results if r.status.value == "error"]
    for r in errors[:10]:
        print(f"  error {r.id}: {r.reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20000)
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    folder = data_folder(args.patients, args.data)
    measure(f"OMOP 5.4, Synthea × {args.patients} persons", build_omop(folder / "omop-synthea", args.patients))
    aphp = folder / "catalog.yaml"
    if aphp.exists():
        measure(f"AP-HP demo, {args.patients} patients", aphp)
    else:
        print(f"AP-HP demo absent ({aphp}): python benchmarks/generate.py --patients {args.patients}")


if __name__ == "__main__":
    main()
