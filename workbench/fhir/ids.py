"""The persistent map from FHIR string ids to the tables' integer ids, and the identifier index.

The warehouse's tables key rows by integers; FHIR resources by strings. The map
lives in the warehouse file itself (`_id_map`), so it is swapped in with the
load that extended it and the same resource gets the same integer id in every
later load. `_identifiers` indexes the business identifiers (system|value) of
loaded resources, so a conditional reference (``Location?identifier=sys|val``)
made in a later export still resolves.
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pyarrow as pa

ID_MAP_DDL = ("CREATE TABLE IF NOT EXISTS _id_map (resource_type VARCHAR, fhir_id VARCHAR, table_name VARCHAR, "
              "part VARCHAR, row_id BIGINT)")
IDENTIFIERS_DDL = ("CREATE TABLE IF NOT EXISTS _identifiers (resource_type VARCHAR, system VARCHAR, value VARCHAR, "
                   "fhir_id VARCHAR)")

Key = tuple[str, str, str, str]  # resource type, fhir id, table, part


class IdMap:
    """Integer ids of (resource type, FHIR id, table, part), allocated once per warehouse and kept."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(ID_MAP_DDL)
        con.execute(IDENTIFIERS_DDL)
        self._ids: dict[Key, int] = {}
        self._next: dict[str, int] = defaultdict(lambda: 1)
        for kind, fhir_id, table, part, row_id in con.execute("SELECT * FROM _id_map").fetchall():
            self._ids[(kind, fhir_id, table, part)] = row_id
            self._next[table] = max(self._next[table], row_id + 1)
        self._new: list[tuple[Key, int]] = []
        self._identifiers: dict[tuple[str, str, str], str] = {
            (kind, system, value): fhir_id for kind, system, value, fhir_id in con.execute("SELECT * FROM _identifiers").fetchall()
        }
        self._new_identifiers: list[tuple[str, str, str, str]] = []

    def id(self, resource_type: str, fhir_id: str, table: str, part: str = "") -> int:
        """The integer id of this row of this resource, allocated on first use."""
        key = (resource_type, fhir_id, table, part)
        found = self._ids.get(key)
        if found is None:
            found = self._ids[key] = self._next[table]
            self._next[table] = found + 1
            self._new.append((key, found))
        return found

    def known(self, resource_type: str, fhir_id: str, table: str, part: str = "") -> int | None:
        """The id already allocated to this row, or None (without allocating one)."""
        return self._ids.get((resource_type, fhir_id, table, part))

    def add_identifier(self, resource_type: str, system: str, value: str, fhir_id: str) -> None:
        """Index a business identifier of a loaded resource (kept for conditional references of later loads)."""
        key = (resource_type, system, value)
        if self._identifiers.get(key) != fhir_id:
            self._identifiers[key] = fhir_id
            self._new_identifiers.append((resource_type, system, value, fhir_id))

    def by_identifier(self, resource_type: str, system: str, value: str) -> str | None:
        """The FHIR id of the resource of `resource_type` with this business identifier (any system when empty)."""
        found = self._identifiers.get((resource_type, system, value))
        if found is None and not system:
            found = next((f for (k, _s, v), f in self._identifiers.items() if k == resource_type and v == value), None)
        return found

    def save(self, con: duckdb.DuckDBPyConnection) -> None:
        """Append the ids and identifiers allocated since opening (inside the load's transaction)."""
        if self._new:
            keys, ids = zip(*self._new)
            columns = list(zip(*keys))
            con.register("_new_ids", pa.table({"resource_type": columns[0], "fhir_id": columns[1], "table_name": columns[2],
                                               "part": columns[3], "row_id": pa.array(ids, pa.int64())}))
            con.execute("INSERT INTO _id_map SELECT * FROM _new_ids")
            con.unregister("_new_ids")
            self._new.clear()
        if self._new_identifiers:
            columns = list(zip(*self._new_identifiers))
            con.register("_new_identifiers", pa.table({"resource_type": columns[0], "system": columns[1],
                                                       "value": columns[2], "fhir_id": columns[3]}))
            con.execute("DELETE FROM _identifiers WHERE (resource_type, system, value) IN "
                        "(SELECT resource_type, system, value FROM _new_identifiers)")
            con.execute("INSERT INTO _identifiers SELECT * FROM _new_identifiers")
            con.unregister("_new_identifiers")
            self._new_identifiers.clear()
