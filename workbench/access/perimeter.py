"""Perimeters over the care-site tree and the row filters they imply.

A perimeter is a list of care-site codes covering their descendants. A stay is
in the perimeter when its discharge unit's hospital, pole, service or UF is a
covered code, or when one of its unit movements took place in a covered unit;
a patient is in it when one of their stays is; every other patient-level row
(diagnoses, biology, drugs, notes…) is reached through its stay. Reference
tables (care sites, concepts, capacities) carry no patient and pass unfiltered.
Codes only ever reach the queries as ibis literals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import ibis
import ibis.expr.types as ir
import pandas as pd

from workbench.errors import UserError

SITE_COLUMNS = ("hospital", "pole", "service", "uf")
STAY_COLUMN = "visit_occurrence_id"
PERSON_COLUMN = "person_id"
IDENTITY_TABLE = "person_identity"
# views whose rows are reached through their stay; `patients` through the person; `care_sites` is reference
_STAY_VIEWS = ("stays", "unit_stays", "diagnoses", "procedures", "biology", "drugs", "notes")


@dataclass(frozen=True)
class Coverage:
    """The care sites a perimeter covers: their codes and identifiers (the perimeter's nodes and descendants)."""

    codes: frozenset[str]
    ids: frozenset[int]


def resolve(care_sites: pd.DataFrame, perimeter: frozenset[str]) -> Coverage:
    """Close `perimeter` over the tree (`care_sites` view as a frame); unknown codes are a `UserError`."""
    known = set(care_sites["code"].dropna())
    unknown = sorted(set(perimeter) - known)
    if unknown:
        raise UserError(f"périmètre : code(s) d'unité inconnu(s) dans l'arbre des unités : {', '.join(unknown)}")
    children: dict[int, list[int]] = {}
    for site, parent in zip(care_sites["care_site_id"], care_sites["parent_id"]):
        if pd.notna(parent):
            children.setdefault(int(parent), []).append(int(site))
    frontier = [int(i) for i in care_sites.loc[care_sites["code"].isin(perimeter), "care_site_id"]]
    ids: set[int] = set()
    while frontier:
        node = frontier.pop()
        if node not in ids:
            ids.add(node)
            frontier.extend(children.get(node, ()))
    codes = care_sites.loc[care_sites["care_site_id"].isin(ids), "code"].dropna()
    return Coverage(frozenset(codes), frozenset(ids))


class RowFilter:
    """Restricts views and raw tables to the rows of one perimeter.

    `raw_view` gives the unrestricted canonical views, from which the allowed
    stays and patients are derived once (lazy expressions, used as semi-joins).
    """

    def __init__(self, raw_view: Callable[[str], ir.Table], coverage: Coverage):
        self._raw_view = raw_view
        self.coverage = coverage
        self._stays: ir.Table | None = None

    def _in_sites(self, table: ir.Table) -> ir.BooleanValue:
        codes = [ibis.literal(code) for code in sorted(self.coverage.codes)]
        predicate = ibis.literal(False)
        for column in SITE_COLUMNS:
            predicate = predicate | table[column].isin(codes).fill_null(False)
        return predicate

    def allowed_stays(self) -> ir.Table:
        """One column `stay_id`: stays attributed to, or passing through, a covered unit."""
        if self._stays is None:
            stays = self._raw_view("stays")
            by_discharge = stays.filter(self._in_sites(stays)).select("stay_id")
            units = self._raw_view("unit_stays")
            ids = [ibis.literal(i, type="int64") for i in sorted(self.coverage.ids)]
            passing = units.filter(self._in_sites(units) | units.care_site_id.isin(ids).fill_null(False))
            self._stays = ibis.union(by_discharge, passing.select("stay_id"), distinct=True)
        return self._stays

    def allowed_persons(self) -> ir.Table:
        """One column `person_id`: patients having at least one allowed stay."""
        stays = self._raw_view("stays")
        return stays.filter(stays.stay_id.isin(self.allowed_stays().stay_id)).select("person_id").distinct()

    def view(self, name: str, table: ir.Table) -> ir.Table:
        """`table` (the canonical view `name`) restricted to the perimeter."""
        if name in _STAY_VIEWS:
            return table.filter(table.stay_id.isin(self.allowed_stays().stay_id))
        if name == "patients":
            return table.filter(table.person_id.isin(self.allowed_persons().person_id))
        return table

    def table(self, table: ir.Table) -> ir.Table:
        """A raw table restricted through its stay column, else its patient column; reference tables unchanged."""
        if STAY_COLUMN in table.columns:
            return table.filter(table[STAY_COLUMN].isin(self.allowed_stays().stay_id))
        if PERSON_COLUMN in table.columns:
            return table.filter(table[PERSON_COLUMN].isin(self.allowed_persons().person_id))
        return table
