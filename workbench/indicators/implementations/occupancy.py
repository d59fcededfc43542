"""Bed occupancy: patient-days present at midnight ÷ (installed beds × days) × 100.

A patient counts for day D when present at the midnight that ends D, so a
movement from D1 to D3 counts D1 and D2 (its nights) and a same-day movement
counts 0. Numerator: unit movements at UF level in units that have installed
beds, clipped to each month of the period; a movement still open counts up to
the extraction date. Denominator: installed beds of each unit × the days of
each month during which that capacity was valid. Days after the extraction
date are left out of both terms, so the current month is not diluted. Only
care-site and time dimensions make sense here (a bed has no sex or age).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from workbench.indicators.compiler import METRICS, Request, member_filter
from workbench.indicators.implementations import register
from workbench.semantic.dimensions import CARE_SITE_DIMENSIONS, TIME_DIMENSIONS

UNIT_LEVEL = "UF"


def month_calendar(request: Request) -> ir.Table:
    """One row per month of the period: first day, first day after it (clipped to the extraction date), labels."""
    stop = request.end_exclusive
    if request.extraction_date is not None:
        stop = min(stop, request.extraction_date)
    firsts = pd.date_range(request.start, request.end, freq="MS").date
    rows = [
        {
            "month_start": first,
            "month_next": min((pd.Timestamp(first) + pd.offsets.MonthBegin(1)).date(), stop),
            "month": f"{first:%Y-%m}",
            "quarter": f"{first.year}-Q{(first.month - 1) // 3 + 1}",
            "year": f"{first.year}",
        }
        for first in firsts
        if first < stop
    ]
    if not rows:
        rows = [{"month_start": request.start, "month_next": request.start, "month": "", "quarter": "", "year": ""}]
    schema = {"month_start": "date", "month_next": "date", "month": "string", "quarter": "string", "year": "string"}
    return ibis.memtable(pd.DataFrame(rows, columns=list(schema)).astype(object), schema=schema)


def _days(first: ir.DateValue, stop: ir.DateValue, calendar: ir.Table) -> ir.IntegerValue:
    """Days of [first, stop) falling in the calendar month."""
    return ibis.least(stop, calendar.month_next).delta(ibis.greatest(first, calendar.month_start), unit="day")


def _time_filtered(calendar: ir.Table, request: Request) -> ir.Table:
    time_request = Request(
        indicator_id=request.indicator_id,
        filters={k: v for k, v in request.filters.items() if k in TIME_DIMENSIONS},
    )
    return member_filter(calendar, time_request)


def _site_filtered(table: ir.Table, request: Request) -> ir.Table:
    site_request = Request(
        indicator_id=request.indicator_id,
        filters={k: v for k, v in request.filters.items() if k in CARE_SITE_DIMENSIONS},
    )
    return member_filter(table, site_request)


def _bed_days(warehouse: Any, calendar: ir.Table, request: Request) -> ir.Table:
    capacity = warehouse.table("care_site_capacity")
    sites = warehouse.view("care_sites").select("care_site_id", *CARE_SITE_DIMENSIONS)
    capacity = _site_filtered(capacity.join(sites, "care_site_id"), request)
    capacity = capacity.mutate(stop_day=capacity.valid_to + ibis.interval(days=1))
    joined = capacity.join(
        calendar,
        [
            capacity.valid_from < calendar.month_next,
            capacity.stop_day.isnull() | (capacity.stop_day > calendar.month_start),
        ],
    )
    days = _days(joined.valid_from, joined.stop_day.fill_null(joined.month_next), joined)
    keys = list(request.by)
    metrics = {"denominator": (joined.beds_installed * days).sum()}
    return joined.group_by(keys).aggregate(**metrics) if keys else joined.aggregate(**metrics)


def _patient_days(warehouse: Any, calendar: ir.Table, request: Request) -> ir.Table:
    movements = warehouse.view("unit_stays")
    units = warehouse.table("care_site_capacity").care_site_id
    movements = movements.filter(movements.movement_type == UNIT_LEVEL, movements.care_site_id.isin(units))
    movements = _site_filtered(movements, request)
    now = request.extraction_date or request.end_exclusive
    first = movements.start_datetime.date()
    stop = movements.end_datetime.date().fill_null(ibis.literal(now))
    movements = movements.mutate(first_day=first, stop_day=stop)
    joined = movements.join(
        calendar,
        [
            movements.first_day < movements.stop_day,
            movements.first_day < calendar.month_next,
            movements.stop_day > calendar.month_start,
        ],
    )
    keys = list(request.by)
    metrics = {
        "numerator": _days(joined.first_day, joined.stop_day, joined).sum(),
        "n_patients": joined.person_id.nunique(),
    }
    return joined.group_by(keys).aggregate(**metrics) if keys else joined.aggregate(**metrics)


@register("taux_occupation", scale=100.0, tables=("care_site_capacity",))
def occupancy(warehouse: Any, request: Request) -> ir.Table:
    """Patient-days present at midnight ÷ bed-days (× 100), per care site and month."""
    calendar = _time_filtered(month_calendar(request), request)
    beds = _bed_days(warehouse, calendar, request)
    present = _patient_days(warehouse, calendar, request)
    keys = list(request.by)
    if keys:
        joined = beds.left_join(present, keys)
    else:
        joined = beds.cross_join(present)
    return joined.select(
        *keys,
        numerator=joined.numerator.fill_null(0),
        denominator=joined.denominator,
        n_patients=joined.n_patients.fill_null(0),
    ).select(*keys, *METRICS)
