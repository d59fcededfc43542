"""Which raw tables and columns an expression actually reads, derived from the ibis op graph.

Nobody types the lineage of an indicator by hand: it is read off the one
expression the engine executes. The walk starts from the result's columns and
goes down the relations, keeping at each step only the columns that the
values above really use (a projection of the semantic layer exposes every
column of the view, but the indicator reads few of them). Relations it does
not know keep all their inputs, so the lineage may over-report but never
misses a column.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import ibis.expr.operations as ops
from ibis.expr.operations.relations import Simple
import ibis.expr.types as ir

Lineage = dict[str, list[str]]


def _value_refs(values: Iterable[ops.Node]) -> tuple[list[ops.Field], list[ops.Relation]]:
    """Fields used by value expressions, and relations nested in them (subqueries), without crossing into relations."""
    fields: list[ops.Field] = []
    nested: list[ops.Relation] = []
    stack = [v for v in values if isinstance(v, ops.Node)]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ops.Field):
            fields.append(node)
            continue
        for child in node.__children__:
            if isinstance(child, ops.Relation):
                # a subquery reads its own relation; a reduction such as COUNT(*) only names its table
                if isinstance(node, ops.Subquery):
                    nested.append(child)
            elif isinstance(child, ops.Node):
                stack.append(child)
    return fields, nested


def _args_values(node: ops.Node) -> list[ops.Node]:
    """Every non-relation argument of a relation (flattening tuples and dicts)."""
    found: list[ops.Node] = []
    for arg in node.__args__:
        items = arg.values() if isinstance(arg, dict) else arg if isinstance(arg, tuple) else (arg,)
        for item in items:
            if isinstance(item, ops.Node) and not isinstance(item, ops.Relation):
                found.append(item)
    return found


def _parents(node: ops.Relation) -> list[ops.Relation]:
    return [child for child in node.__children__ if isinstance(child, ops.Relation)]


def _step(node: ops.Relation, needed: set[str]) -> tuple[list[ops.Node], dict[ops.Relation, set[str]]]:
    """For one relation and the columns needed from it: the values it evaluates, and columns passed to its parents."""
    if isinstance(node, ops.Project):
        return [node.values[n] for n in needed if n in node.values], {}
    if isinstance(node, ops.Aggregate):
        metrics = [node.metrics[n] for n in needed if n in node.metrics]
        return [*node.groups.values(), *metrics], {}
    if isinstance(node, ops.JoinChain):
        values = [node.values[n] for n in needed if n in node.values]
        for link in node.rest:
            values.extend(link.predicates)
        return values, {}
    if isinstance(node, ops.DropColumns):
        return [], {node.parent: set(needed)}
    if isinstance(node, (ops.Reference, Simple)):
        return _args_values(node), {node.parent: set(needed)}
    if isinstance(node, ops.Set):
        return [], {node.left: set(needed), node.right: set(needed)}
    if isinstance(node, ops.TableUnnest):
        return [node.column], {node.parent: set(needed)}
    return _args_values(node), {parent: set(parent.schema.names) for parent in _parents(node)}


def lineage(expr: ir.Table) -> Lineage:
    """``{table: [columns]}`` for every database table the expression reads, columns sorted."""
    root = expr.op()
    needed: dict[ops.Relation, set[str]] = defaultdict(set)
    needed[root] = set(root.schema.names)
    tables: dict[str, set[str]] = defaultdict(set)
    changed = True
    while changed:
        changed = False
        for node, columns in list(needed.items()):
            if isinstance(node, ops.PhysicalTable) and not isinstance(node, ops.AliasedRelation):
                if isinstance(node, (ops.DatabaseTable, ops.UnboundTable)):
                    tables[node.name] |= columns
                continue
            values, passed = _step(node, columns)
            fields, nested = _value_refs(values)
            for field in fields:
                passed.setdefault(field.rel, set()).add(field.name)
            for relation in nested:
                passed.setdefault(relation, set()).update(relation.schema.names)
            for relation, names in passed.items():
                if not names <= needed[relation]:
                    needed[relation] |= names
                    changed = True
    return {name: sorted(columns) for name, columns in sorted(tables.items())}
