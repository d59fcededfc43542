"""Canonical views materialised once per data snapshot, queries run over them.

Built from the raw tables, a view such as `stays` is a graph of several hundred
ibis operations: compiling it costs 0.3–2 s and running it several times the
cost of the query above it. Dashboards and the indicator engine ask for the
same views again and again on a warehouse that does not change, so (as a
semantic layer materialised once, metrics computed over it) each view is built
once as a backend-side temporary table and queries read that table.

Everything the workbench inspects stays logical: `Warehouse.view()` returns the
view's expression over the raw tables, so lineage, the audit log's table list,
the Spark translation and the access layer's row filters see exactly what they
saw before. Only two places swap the views for their tables:

- :func:`swap`, called by ``Warehouse.execute``: the expression actually run;
- :func:`to_sql`, the SQL shown to users: the small query over the views plus
  one CTE per view, each compiled once, so the text still reads from the raw
  tables and runs as is on the warehouse.

Entries are kept per connection object (ibis compares connections to the same
file as equal, so the connection's identity is the key): a replaced file is
reopened by `connections.shared_duckdb` on a new connection, which starts empty,
and the stale connection's entries are dropped with :func:`forget`. Building a
view holds its connection's lock, so concurrent sessions (Panel serves them
from threads) build it once and never drive the connection in parallel. ``WORKBENCH_MATERIALIZE=0`` turns the whole mechanism
off (queries then compile and run the full views, as before).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir

ENVIRONMENT = "WORKBENCH_MATERIALIZE"
_SWAPPED_SIZE = 256


def enabled() -> bool:
    """False when ``WORKBENCH_MATERIALIZE`` is 0/false/no/off (read at each call, for debugging sessions)."""
    return os.environ.get(ENVIRONMENT, "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass(eq=False)
class _View:
    """One registered view on one connection: its logical operation and, once built, its table."""

    name: str
    logical: ops.Relation
    table: ir.Table | None = None
    sql: dict[str, str] = field(default_factory=dict)
    inner: tuple[ops.Relation, ...] | None = None


@dataclass(eq=False)
class _Connection:
    con: Any
    views: dict[ops.Relation, _View] = field(default_factory=dict)
    swapped: OrderedDict[ops.Relation, ops.Relation] = field(default_factory=OrderedDict)


_LOCK = threading.Lock()
_CONNECTION_LOCKS: dict[int, threading.RLock] = {}


def connection_lock(con: Any) -> threading.RLock:
    """The one lock of a backend connection, held by everything that drives it.

    A DuckDB connection driven from two threads at once returns broken results
    ("pending query result", a listing that comes back empty): the dashboards'
    worker threads, the server's warm-up and notebook threads share one
    connection per file, so queries, catalogue inspection and view builds all
    take this lock. Re-entrant: a query may build the views it reads.
    """
    with _LOCK:
        return _CONNECTION_LOCKS.setdefault(id(con), threading.RLock())
_CONNECTIONS: dict[int, _Connection] = {}


def _state(con: Any) -> _Connection | None:
    state = _CONNECTIONS.get(id(con))
    return state if state is not None and state.con is con else None


def register(con: Any, name: str, table: ir.Table) -> ir.Table:
    """Record `table` as the canonical view `name` on `con` (returned unchanged: views stay logical)."""
    with _LOCK:
        state = _state(con)
        if state is None:
            state = _CONNECTIONS[id(con)] = _Connection(con)
        state.views.setdefault(table.op(), _View(name, table.op()))
    return table


def forget(con: Any) -> None:
    """Drop what is known about `con` (closed, or its file replaced): its temporary tables die with it."""
    with _LOCK:
        if _state(con) is not None:
            del _CONNECTIONS[id(con)]


def release(con: Any) -> None:
    """Drop the temporary tables of `con`'s views now and forget them: before closing a connection to a
    server (PostgreSQL), whose tables ibis would otherwise drop at exit, when the server may be gone."""
    with _LOCK:
        state = _state(con)
        if state is None:
            return
        del _CONNECTIONS[id(con)]
    with connection_lock(con):
        for view in state.views.values():
            if view.table is not None:
                try:
                    view.table.release()
                except Exception:  # noqa: BLE001 - a session already gone took its temporary tables with it
                    pass


def _inner(state: _Connection, view: _View) -> tuple[ops.Relation, ...]:
    """The registered views `view` is built from (e.g. `care_sites` inside `stays`)."""
    if view.inner is None:
        root = view.logical
        view.inner = tuple(node for node in root.find(lambda n: n in state.views and n is not root))
    return view.inner


def _found(state: _Connection, op: ops.Relation) -> list[ops.Relation]:
    return list(op.find(lambda n: n in state.views))


def _built(state: _Connection, view: _View) -> ir.Table:
    """The view's temporary table, built on first use from its already built inner views."""
    with connection_lock(state.con):
        if view.table is None:
            inner = _inner(state, view)
            source = view.logical
            if inner:
                source = source.replace({node: _built(state, state.views[node]).op() for node in inner})
            view.table = source.to_expr().cache()
        return view.table


def swap(con: Any, expr: ir.Expr) -> ir.Expr:
    """`expr` reading the materialised tables of the views it uses (built now if needed)."""
    state = _state(con)
    if state is None or not enabled():
        return expr
    op = expr.op()
    with _LOCK:
        hit = state.swapped.get(op)
        if hit is not None:
            state.swapped.move_to_end(op)
    if hit is None:
        found = _found(state, op)
        if not found:
            return expr
        hit = op.replace({node: _built(state, state.views[node]).op() for node in found})
        with _LOCK:
            state.swapped[op] = hit
            if len(state.swapped) > _SWAPPED_SIZE:
                state.swapped.popitem(last=False)
    return hit.to_expr()


def _placeholder(view: _View) -> ops.UnboundTable:
    return ops.UnboundTable(name=view.name, schema=view.logical.schema)


def _view_sql(state: _Connection, view: _View, dialect: str) -> str:
    """The view's own SELECT, its inner views named as CTEs (compiled once per dialect)."""
    with connection_lock(state.con):
        text = view.sql.get(dialect)
        if text is None:
            mapping = {node: _placeholder(state.views[node]) for node in _inner(state, view)}
            source = view.logical.replace(mapping) if mapping else view.logical
            text = view.sql[dialect] = str(ibis.to_sql(source.to_expr(), dialect=dialect))
        return text


def _ordered(state: _Connection, found: list[ops.Relation]) -> list[_View]:
    """The views a query uses, each after the views it is built from (CTEs may only read earlier ones)."""
    ordered: list[_View] = []
    seen: set[int] = set()

    def visit(node: ops.Relation) -> None:
        view = state.views[node]
        if id(view) in seen:
            return
        seen.add(id(view))
        for inner in _inner(state, view):
            visit(inner)
        ordered.append(view)

    for node in found:
        visit(node)
    return ordered


def to_sql(con: Any, expr: ir.Expr, dialect: str) -> str:
    """The SQL shown to users: the query over its views, each view a CTE built from the raw tables.

    The text runs as is on the warehouse and reads only raw tables, whether or
    not the views are materialised; it no longer repeats a view's text at each
    use, and costs a small compile instead of the whole graph's.
    """
    state = _state(con)
    op = expr.op()
    found = _found(state, op) if state is not None and enabled() else []
    if not found:
        return str(ibis.to_sql(expr, dialect=dialect))
    views = _ordered(state, found)
    query = str(ibis.to_sql(op.replace({node: _placeholder(state.views[node]) for node in found}).to_expr(),
                            dialect=dialect))
    ctes = ",\n".join(f"{view.name} AS (\n{_view_sql(state, view, dialect)}\n)" for view in views)
    if query.lstrip().upper().startswith("WITH "):
        return f"WITH {ctes},\n{query.lstrip()[len('WITH '):]}"
    return f"WITH {ctes}\n{query}"
