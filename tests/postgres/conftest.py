"""A throwaway PostgreSQL cluster for the whole session, and warehouses loaded into it.

`initdb` refuses to run as root (see the spec's stack notes): under root the
cluster is created and driven as the `postgres` system user (created by
Debian's `postgresql` package, which `make test` installs) in a temporary
folder it owns; otherwise as the current user. It listens on 127.0.0.1 on a
free port, with its socket in that folder, and is stopped (and the folder
removed) at the end of the session, also after a failure.

Authentication (pg_hba.conf): the superuser `postgres` is trusted (it loads
the data); the role `reader` — what a hospital would give the workbench:
SELECT on the schemas and TEMP on the database — logs in with a password
(SCRAM), so the password sources (`password_file`, `$PGPASSWORD`) are really
exercised.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from semantic.fixtures import catalog_for_aphp, catalog_for_omop

READER, READER_PASSWORD = "reader", "lecture-seule"
DATABASE = "eds"


@dataclass(frozen=True)
class Server:
    """A running test cluster."""

    host: str
    port: int
    folder: Path

    def url(self, schema: str, user: str = READER, **query: str) -> str:
        """The workbench's source URL of `schema` for `user` (never a password)."""
        extra = "".join(f"&{key}={value}" for key, value in query.items())
        return f"postgresql://{user}@{self.host}:{self.port}/{DATABASE}?schema={schema}{extra}"

    def admin(self):
        """A psycopg connection as the superuser (loading, grants)."""
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user="postgres", dbname=DATABASE, autocommit=True)


def _bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    assert found, "PostgreSQL absent (/usr/lib/postgresql/*/bin/initdb) : lancez `make test`, qui l'installe"
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_owner(command: list[str]) -> list[str]:
    """`command` run as the `postgres` user when we are root (initdb refuses root), else as is."""
    if os.geteuid() != 0:
        return command
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{part}'" for part in command)]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """initdb + pg_ctl start on a free local port; pg_ctl stop and the folder removed at the end."""
    binaries = _bin()
    folder = Path(tempfile.mkdtemp(prefix="workbench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", _free_port()
    subprocess.run(_as_owner([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                              "-E", "UTF8", "--locale=C", "--no-sync"]), check=True, capture_output=True)
    hba = data / "pg_hba.conf"
    hba.write_text(f"host all {READER} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    start = [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w", "start"]
    try:
        subprocess.run(_as_owner(start), check=True, capture_output=True)
        server = Server("127.0.0.1", port, folder)
        import psycopg

        with psycopg.connect(host=server.host, port=port, user="postgres", dbname="postgres", autocommit=True) as con:
            con.execute(f"CREATE DATABASE {DATABASE}")
            con.execute(f"CREATE ROLE {READER} LOGIN PASSWORD '{READER_PASSWORD}'")
        with server.admin() as con:
            con.execute(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            con.execute(f"GRANT CONNECT, TEMP ON DATABASE {DATABASE} TO {READER}")
        yield server
    finally:
        from workbench.connections import close_postgres

        close_postgres()
        subprocess.run(_as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def reader_password_file(postgres_server: Server) -> Path:
    """The reader's password in a file readable by its owner only (what a service's catalogue names)."""
    path = postgres_server.folder / "reader.secret"
    path.write_text(READER_PASSWORD + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def aphp_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The semantic tests' hand-written AP-HP warehouse (DuckDB) and its catalogue."""
    return catalog_for_aphp(tmp_path_factory.mktemp("pg-aphp"))


@pytest.fixture(scope="session", params=["5.3", "5.4"])
def omop_fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The semantic tests' hand-written OMOP CSV export of each CDM version and its catalogue."""
    return request.param, catalog_for_omop(tmp_path_factory.mktemp(f"pg-omop{request.param}"), request.param)
