"""A PostgreSQL schema as the source: `catalog init --source postgresql://…`, passwords, bad input.

The OMOP fixture (tests/semantic/fixtures.py, CDM 5.3) is loaded into the
throwaway cluster; its row counts are those read off the fixture by hand in
tests/catalog/test_cli.py. The role `reader` logs in with a password (SCRAM),
so each password source is really used by the server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from catalog.test_cli import OMOP_TABLE_ROWS, OMOP_VIEW_ROWS
from semantic.fixtures import catalog_for_omop
from postgres.conftest import READER_PASSWORD, Server
from postgres.loading import load_into
from workbench.catalog import load_catalog, write_catalog
from workbench.errors import UserError
from workbench.paths import PROJECT_ROOT

SCHEMA = "cdm"


@pytest.fixture(scope="module")
def omop_csv_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CDM 5.3 fixture (the one whose counts tests/catalog/test_cli.py reads off), as CSV files."""
    return catalog_for_omop(tmp_path_factory.mktemp("omop53"), "5.3")


@pytest.fixture(scope="module")
def omop_schema(postgres_server: Server, omop_csv_catalog: Path) -> str:
    """The same fixture in schema `cdm`."""
    load_into(postgres_server, omop_csv_catalog, SCHEMA)
    return SCHEMA


@pytest.fixture()
def no_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Neither $PGPASSWORD nor a ~/.pgpass: the server's password prompt finds nothing."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "absent.pgpass"))


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("WORKBENCH_CATALOG", "PGPASSWORD")} | env
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], cwd=PROJECT_ROOT, env=environment,
                          capture_output=True, text=True, timeout=600)


def test_init_list_show_compute_through_the_cli_with_pgpassword(postgres_server: Server, omop_schema: str,
                                                                omop_csv_catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "catalog.yaml"
    done = cli("catalog", "init", "--source", postgres_server.url(omop_schema), "--flavour", "omop", "--out", str(out),
               PGPASSWORD=READER_PASSWORD)
    assert done.returncode == 0, done.stderr
    assert f"{len(OMOP_TABLE_ROWS)} tables (postgres, omop" in done.stdout
    text = out.read_text(encoding="utf-8")
    assert READER_PASSWORD not in text and "workbench.catalog:PostgresDatabase" in text
    listed = cli("--catalog", str(out), "catalog", "list", "--format", "json", PGPASSWORD=READER_PASSWORD)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {row["name"]: row["rows"] for row in rows if row["kind"] == "table"} == OMOP_TABLE_ROWS
    assert {row["name"]: row["rows"] for row in rows if row["kind"] == "view"} == OMOP_VIEW_ROWS
    visits = next(row for row in rows if row["name"] == "visit_occurrence")
    assert (visits["first_date"], visits["last_date"]) == ("2110-01-01", "2110-09-01")
    shown = cli("--catalog", str(out), "catalog", "show", "visit_occurrence", PGPASSWORD=READER_PASSWORD)
    assert shown.returncode == 0 and "visit_concept_id" in shown.stdout, shown.stderr
    request = ("indicators", "compute", "nb_sejours", "--by", "hospital", "--grain", "year", "--from", "2110-01",
               "--to", "2110-12", "--format", "json")
    on_postgres = cli("--catalog", str(out), *request, PGPASSWORD=READER_PASSWORD)
    on_files = cli("--catalog", str(omop_csv_catalog), *request)
    assert on_postgres.returncode == 0, on_postgres.stderr
    figures = [{k: v for k, v in row.items() if k != "snapshot_id"} for row in json.loads(on_postgres.stdout)["rows"]]
    assert figures == [{k: v for k, v in row.items() if k != "snapshot_id"}
                       for row in json.loads(on_files.stdout)["rows"]]
    assert sum(row["value"] for row in figures) > 0


def test_ids_are_read_as_int64_whatever_the_ddl_says(postgres_server: Server, omop_schema: str, tmp_path: Path,
                                                    reader_password_file: Path) -> None:
    # OMOP's DDL declares ids `integer` and values `numeric`: the catalogue reads them as int64 and float64
    with postgres_server.admin() as con:
        con.execute(f"CREATE SCHEMA ddl; CREATE TABLE ddl.person (person_id integer, year_of_birth smallint, "
                    f"value numeric(10, 2)); INSERT INTO ddl.person VALUES (1, 1950, 2.5);"
                    f"GRANT USAGE ON SCHEMA ddl TO reader; GRANT SELECT ON ddl.person TO reader")
    out = tmp_path / "catalog.yaml"
    write_catalog(postgres_server.url("ddl", password_file=str(reader_password_file)), "omop", out)
    columns = load_catalog(out).tables["person"].columns
    assert {name: spec.type for name, spec in columns.items()} == {
        "person_id": "int64", "year_of_birth": "int64", "value": "float64"}


def test_password_file_and_pgpass(postgres_server: Server, omop_schema: str, tmp_path: Path,
                                  reader_password_file: Path, no_password: None, monkeypatch) -> None:
    out = tmp_path / "catalog.yaml"
    write_catalog(postgres_server.url(omop_schema, password_file=str(reader_password_file)), "omop", out)
    assert f"password_file={reader_password_file}" in out.read_text().replace("%2F", "/")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"{postgres_server.host}:{postgres_server.port}:eds:reader:{READER_PASSWORD}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    write_catalog(postgres_server.url(omop_schema), "omop", tmp_path / "pgpass.yaml")
    assert set(load_catalog(tmp_path / "pgpass.yaml").tables) == set(OMOP_TABLE_ROWS)


def refused(source: str, out: Path) -> str:
    """The one-line error of `catalog init`, after checking that nothing was written."""
    with pytest.raises(UserError) as caught:
        write_catalog(source, "omop", out)
    assert not out.exists() and not out.with_name(out.name + ".tmp").exists()
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_bad_sources_are_one_error_naming_the_host(postgres_server: Server, omop_schema: str, tmp_path: Path,
                                                   no_password: None, monkeypatch) -> None:
    out = tmp_path / "catalog.yaml"
    server = f"{postgres_server.host}:{postgres_server.port}"
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    assert f"127.0.0.1:{closed}" in refused(f"postgresql://reader@127.0.0.1:{closed}/eds?schema=cdm", out)
    assert "injoignable" in refused(f"postgresql://reader@127.0.0.1:{closed}/eds?schema=cdm", out)
    assert "URL PostgreSQL invalide" in refused("postgresql://reader@127.0.0.1:port/eds", out)
    assert "URL PostgreSQL invalide" in refused(f"postgresql://reader@{server}", out)
    assert "paramètre(s) inconnu(s) sslmode" in refused(f"postgresql://reader@{server}/eds?sslmode=disable", out)
    assert "mot de passe ne doit pas figurer" in refused(f"postgresql://reader:{READER_PASSWORD}@{server}/eds", out)
    no_password_given = refused(postgres_server.url(omop_schema), out)
    assert server in no_password_given and "connexion refusée" in no_password_given
    monkeypatch.setenv("PGPASSWORD", "pas-le-bon")
    assert server in refused(postgres_server.url(omop_schema), out)
    monkeypatch.setenv("PGPASSWORD", READER_PASSWORD)
    assert "« absente »" in refused(f"postgresql://reader@{server}/absente?schema=cdm", out)
    assert f"{server} : schéma « inconnu » absent" in refused(postgres_server.url("inconnu"), out)


def test_a_password_file_others_can_read_is_refused(postgres_server: Server, omop_schema: str,
                                                    tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(READER_PASSWORD)
    secret.chmod(0o644)
    out = tmp_path / "catalog.yaml"
    assert f"chmod 600 {secret}" in refused(postgres_server.url(omop_schema, password_file=str(secret)), out)
    missing = tmp_path / "absent"
    assert f"password_file {missing} : fichier introuvable" in refused(
        postgres_server.url(omop_schema, password_file=str(missing)), out)


def test_flag_counts_and_first_values_compile_for_postgres(postgres_server: Server, omop_schema: str,
                                                           reader_password_file: Path) -> None:
    # ibis 12 would send CAST(boolean AS BIGINT) and a `first` aggregate, both unknown to PostgreSQL
    from workbench.connections import connect_postgres

    with postgres_server.admin() as admin:
        admin.execute("CREATE SCHEMA gaps; CREATE TABLE gaps.t (k integer, v text, f boolean, o integer);"
                      "INSERT INTO gaps.t VALUES (1, 'a', true, 2), (1, 'b', true, 1), (1, NULL, false, 0),"
                      "(2, 'c', false, 5); GRANT USAGE ON SCHEMA gaps TO reader; GRANT SELECT ON gaps.t TO reader")
    con = connect_postgres(postgres_server.url("gaps", password_file=str(reader_password_file)))
    try:
        t = con.table("t", database="gaps")
        got = con.execute(t.group_by("k").aggregate(flags=t.f.cast("int64").sum(), first=t.v.first(order_by=t.o))
                          .order_by("k"))
        # k = 1: two true flags; ordered by o the values are NULL (o=0, skipped), 'b' (o=1), 'a' (o=2)
        assert got.to_dict("records") == [{"k": 1, "flags": 2, "first": "b"}, {"k": 2, "flags": 0, "first": "c"}]
        kept = con.execute(t.filter(t.v.notnull()).distinct(on="k", keep="first").k).sort_values().tolist()
        assert kept == [1, 2]
    finally:
        con.disconnect()


def test_a_session_lost_mid_way_is_one_error_naming_the_host_then_reconnects(
        postgres_server: Server, omop_schema: str, tmp_path: Path, reader_password_file: Path) -> None:
    import workbench

    out = tmp_path / "catalog.yaml"
    write_catalog(postgres_server.url(omop_schema, password_file=str(reader_password_file)), "omop", out)
    with workbench.open(out) as wh:
        assert int(wh.execute(wh.table("person").count())) == OMOP_TABLE_ROWS["person"]
        with postgres_server.admin() as admin:  # what a server restart does to the workbench's session
            admin.execute("SELECT pg_terminate_backend(%s)", (wh.con.con.info.backend_pid,))
        with pytest.raises(UserError, match=f"serveur PostgreSQL {postgres_server.host}:{postgres_server.port} : "
                                            f"connexion perdue"):
            wh.execute(wh.table("person").count())
    with workbench.open(out) as wh:
        assert int(wh.execute(wh.table("person").count())) == OMOP_TABLE_ROWS["person"]


def test_cdm_columns_stored_as_text_are_typed_and_unreadable_values_reported(
        postgres_server: Server, omop_schema: str, tmp_path: Path, reader_password_file: Path) -> None:
    # a staging schema where every column is text: the CDM types them; 'x1', 'hier', '2024-13-01' read as null
    with postgres_server.admin() as admin:
        admin.execute(
            "CREATE SCHEMA staging; CREATE TABLE staging.person (person_id text, gender_concept_id text, "
            "year_of_birth text, birth_datetime text, race_concept_id text, ethnicity_concept_id text);"
            "INSERT INTO staging.person VALUES ('1', '8507', '1950', '1950-03-04 10:00:00', '0', '0'),"
            "('x1', '8532', '1960', 'hier', '0', '0'), (' 3 ', '8532', '1970', '2024-13-01', '0', '0');"
            "GRANT USAGE ON SCHEMA staging TO reader; GRANT SELECT ON staging.person TO reader")
    out = tmp_path / "catalog.yaml"
    failures = write_catalog(postgres_server.url("staging", password_file=str(reader_password_file)), "omop", out)
    columns = load_catalog(out).tables["person"].columns
    assert (columns["person_id"].type, columns["birth_datetime"].type) == ("int64", "timestamp")
    assert sorted((f.column, f.count, f.examples) for f in failures) == [
        ("birth_datetime", 2, ["2024-13-01", "hier"]), ("person_id", 1, ["x1"])]
    import workbench

    with workbench.open(out) as wh:
        person = wh.execute(wh.table("person").order_by("year_of_birth"))
    assert person["person_id"].tolist()[0] == 1 and pd.isna(person["person_id"].tolist()[1])
    assert person["person_id"].tolist()[2] == 3
    assert person["birth_datetime"].isna().tolist() == [False, True, True]
