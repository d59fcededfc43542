"""Pieces of the views shared by both flavours: the stay rules, ancestors of care sites, helpers."""

from __future__ import annotations

from typing import Iterable

import ibis
import ibis.expr.types as ir

from workbench.semantic.views import OTHER, Sources, age_band, nights, whole_years

HOSPITALISATION = ("hospitalisés", "hospitalisation incomplète")


def column(table: ir.Table, names: Iterable[str], type_: str) -> ir.Value:
    """The first of `names` the table has (OMOP 5.3 vs 5.4 spellings), else a typed null."""
    for name in names:
        if name in table.columns:
            return table[name].cast(type_)
    return ibis.null(type_)


def has_any(table: ir.Table, names: Iterable[str]) -> bool:
    return any(name in table.columns for name in names)


def when(table: ir.Table, stem: str) -> ir.TimestampValue:
    """`<stem>_datetime`, else `<stem>_date` at midnight: OMOP fills one or the other."""
    return ibis.coalesce(column(table, [f"{stem}_datetime"], "timestamp"), column(table, [f"{stem}_date"], "timestamp"))


def last_per(table: ir.Table, group: str, order: ir.Value, tie: str) -> ir.Table:
    """One row per `group`: the one with the latest `order` (ties broken by the larger `tie`)."""
    rank = ibis.row_number().over(group_by=table[group], order_by=[ibis.desc(order), ibis.desc(table[tie])])
    return table.mutate(_rank=rank).filter(ibis._["_rank"] == 0).drop("_rank")


def stay_category(visit_type: ir.StringValue, cmd: ir.StringValue, nights_: ir.IntegerValue,
                  is_open: ir.BooleanValue) -> ir.StringValue:
    """The contract's rules: CMD 28 → séance; hospitalisation ≥ 1 night (or open full) → complète…"""
    hospitalised = visit_type.isin(HOSPITALISATION)
    full = (nights_ >= 1).fill_null(False) | (is_open & (visit_type == "hospitalisés"))
    return ibis.cases(
        ((cmd == "28").fill_null(False), "seance"),
        (hospitalised & full, "hospitalisation_complete"),
        (hospitalised, "ambulatoire"),
        (visit_type == "urgence", "urgence"),
        (visit_type == "consultation externe", "consultation"),
        else_=OTHER,
    )


def finish_stays(base: ir.Table, units: ir.Table, src: Sources, death_within_stay: bool) -> ir.Table:
    """Add the derived columns of `stays` to a flavour's base table.

    `base` has one row per stay with the raw-level columns plus `start_date`,
    `end_date`, `visit_hospital` (code) and `died`; `units` has at most one row
    per stay: `unit_stay`, `unit_hospital`, `pole`, `service`, `uf` of its last unit.
    """
    patients = src.view("patients").select(
        _pid="person_id", sex="sex", _birth="birth_date", _death="death_date"
    )
    joined = base.left_join(units, base.stay_id == units.unit_stay).left_join(
        patients, base.person_id == patients._pid
    )
    nights_ = nights(joined.start_date, joined.end_date)
    is_open = joined.end_datetime.isnull()
    age = whole_years(joined.start_date, joined._birth)
    cmd = joined.ghm.substr(0, 2)
    died = joined.died.fill_null(False)
    if death_within_stay:
        inside = (joined._death >= joined.start_date) & (joined.end_date.isnull() | (joined._death <= joined.end_date))
        died = died | inside.fill_null(False)
    return joined.mutate(
        nights=nights_,
        is_open=is_open,
        cmd=cmd,
        ghm_type=joined.ghm.substr(2, 1),
        ghm_severity=joined.ghm.substr(5, 1),
        stay_category=stay_category(joined.visit_type, cmd, nights_, is_open),
        died=died,
        hospital=ibis.coalesce(joined.visit_hospital, joined.unit_hospital, ibis.literal("inconnu")),
        age=age,
        age_band=age_band(age),
    )


def ancestors(nodes: ir.Table, levels: Iterable[str], depth: int = 7) -> ir.Table:
    """Codes of each node's ancestors (itself included) at each level, by walking `depth` parents.

    `nodes` has care_site_id, code, level, parent_id. A fixed number of self
    joins instead of recursion, so the same expression runs on DuckDB and Spark;
    the AP-HP tree has six levels, so seven steps reach the root.
    """
    chain = nodes.select(care_site_id="care_site_id", _c0="code", _l0="level", _u0="parent_id")
    for k in range(1, depth):
        step = nodes.select(**{f"_i{k}": "care_site_id", f"_c{k}": "code", f"_l{k}": "level", f"_u{k}": "parent_id"})
        chain = chain.left_join(step, chain[f"_u{k - 1}"] == step[f"_i{k}"]).drop(f"_i{k}")
    found = {
        level: ibis.coalesce(*[ibis.ifelse(chain[f"_l{k}"] == level, chain[f"_c{k}"], ibis.null("string")) for k in range(depth)])
        for level in levels
    }
    return chain.select(_anc_id="care_site_id", **found)
