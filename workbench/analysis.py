"""Reusable analyses behind the notebook templates.

Notebooks stay thin: every selection, aggregation or business rule they show
lives here as an ibis expression over the canonical views (never SQL text), so
it runs on DuckDB or Spark alike and can be tested on its own. Functions return
ibis expressions when the caller may refine them, and pandas frames (executed
through ``warehouse.execute``, the single execution point) when the result is
meant for display.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable, Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from workbench import vocab
from workbench.errors import UserError
from workbench.indicators.dictionary import LINK_PATTERN, link_label
from workbench.indicators.engine import compute
from workbench.indicators.implementations.common import FULL_HOSPITALISATION, HOSPITAL_CATEGORIES, ended, literals
from workbench.output import records, to_json
from workbench.periods import month_start, months_between, next_month, shift_month
from workbench.records import RECORD_MIME
from workbench.semantic.dimensions import CARE_SITE_DIMENSIONS as CARE_SITE_LEVELS

LOS_BINS: tuple[tuple[int, int | None, str], ...] = (
    (0, 0, "0 nuit"),
    (1, 1, "1 nuit"),
    (2, 3, "2-3 nuits"),
    (4, 7, "4-7 nuits"),
    (8, 14, "8-14 nuits"),
    (15, 30, "15-30 nuits"),
    (31, None, "> 30 nuits"),
)
"""Length-of-stay classes (nights) shown in the PMSI templates."""

PYRAMID_BANDS: tuple[tuple[int, int | None, str], ...] = tuple(
    (low, low + 9, f"{low}-{low + 9}") for low in range(0, 90, 10)
) + ((90, None, "90+"),)


# --------------------------------------------------------------------------- publishing results


def enable_plots() -> None:
    """Load HoloViews/hvplot for the notebook with BokehJS embedded rather than fetched from a CDN.

    Hospital networks often block CDNs, and an HTML report must open offline
    years later: the plots' JavaScript travels inside the notebook.
    """
    import holoviews as hv

    hv.extension("bokeh", inline=True)
    import hvplot.pandas  # noqa: F401 - registers .hvplot on DataFrames



def _plain(value: Any) -> Any:
    """A JSON-safe copy of `value` (frames as records, numpy scalars as Python ones)."""
    if isinstance(value, pd.DataFrame):
        value = records(value)
    elif isinstance(value, pd.Series):
        value = value.to_dict()
    return json.loads(to_json(value))


def record(name: str, value: Any) -> Any:
    """Publish a key result of the notebook under `name` and return it.

    The value is displayed with a workbench MIME type (plus a readable text
    form), so ``workbench notebook run`` stores it in the output's metadata and
    tests read it back from the executed notebook without re-running anything.
    """
    from IPython.display import display

    plain = _plain(value)
    if isinstance(plain, list):
        summary = f"{len(plain)} ligne(s)"
    elif isinstance(plain, dict):
        summary = f"{len(plain)} entrée(s)"
    else:
        summary = repr(plain)
    display({RECORD_MIME: {"name": name, "value": plain}, "text/plain": f"Résultat enregistré « {name} » : {summary}"}, raw=True)
    return value


def wiki_markdown(body: str) -> str:
    """A wiki page body as plain Markdown: ``[[Page]]`` links become the page's name in italics."""
    return LINK_PATTERN.sub(lambda match: f"*{link_label(match)}*", body)


# --------------------------------------------------------------------------- selections


def month_after(month: str) -> dt.date:
    """First day of the month after `month` (exclusive bound of a period)."""
    return next_month(month_start(month))


def year_period(year: int) -> tuple[str, str]:
    return f"{year}-01", f"{year}-12"


def resolve_period(warehouse: Any, start: str = "", end: str = "", months: int = 12) -> tuple[str, str]:
    """The months to analyse: those given, else the `months` months ending with the extraction month.

    Templates default to the warehouse's own recent past, so they run on any
    extraction without editing dates.
    """
    last = end or _extraction_month(warehouse)
    first = start or shift_month(last, -(months - 1))
    return first, last


def last_full_year(warehouse: Any) -> int:
    """The last calendar year that ended before the extraction date."""
    return pd.Timestamp(warehouse.extraction_date).year - 1


def in_period(column: ir.Value, start: str, end: str) -> ir.BooleanValue:
    """`column` (a date) falls in the months `start`..`end` inclusive."""
    return (column >= ibis.date(month_start(start))) & (column < ibis.date(month_after(end)))


def month_of(column: ir.Value) -> ir.StringValue:
    """The ``YYYY-MM`` label of a date column."""
    return column.strftime("%Y-%m")


def at_care_site(table: ir.Table, code: str) -> ir.BooleanValue:
    """Rows whose care-site ancestry contains `code` (hospital, pole, service or UF)."""
    condition = ibis.literal(False)
    for level in CARE_SITE_LEVELS:
        condition = condition | (table[level] == code)
    return condition


def stays(
    warehouse: Any,
    start: str,
    end: str,
    hospital: str = "",
    stay_type: str | None = None,
    date_column: str = "end_date",
) -> ir.Table:
    """Stays placed in the period by `date_column` (discharge by default).

    By discharge, open stays drop out (the indicators' rule), as in the PMSI.
    """
    table = warehouse.view("stays")
    if date_column == "end_date":
        table = ended(table)
    condition = in_period(table[date_column], start, end)
    if hospital:
        condition &= table.hospital == hospital
    if stay_type:
        condition &= table.stay_type == stay_type
    return table.filter(condition)


def care_site_codes(warehouse: Any) -> dict[str, list[str]]:
    """Codes of hospitals and of every care site, for checking user input."""
    sites = warehouse.execute(warehouse.view("care_sites").select("code", "level"))
    return {
        "hopital": sorted(sites.loc[sites["level"] == "hopital", "code"].dropna().astype(str)),
        "all": sorted(sites["code"].dropna().astype(str)),
    }


def hospital_names(warehouse: Any) -> dict[str, str]:
    """Hospital code → name, to label tables and plots."""
    sites = warehouse.view("care_sites")
    frame = warehouse.execute(sites.filter(sites.level == "hopital").select("code", "name"))
    return dict(zip(frame["code"], frame["name"]))


def count_by(table: ir.Table, by: Sequence[str | ir.Value], name: str = "n") -> ir.Table:
    """Row counts per group, largest first."""
    return table.group_by(list(by)).aggregate(**{name: table.count()}).order_by(ibis.desc(name))


# --------------------------------------------------------------------------- PMSI case-mix


def rss_stays(warehouse: Any, start: str, end: str, hospital: str = "") -> ir.Table:
    """Ended MCO stays that make a PMSI summary (full hospitalisation, ambulatory, séances), by discharge.

    The same population as the case-mix and coding-exhaustivity indicators, so
    the notebooks and the dashboards count the same stays.
    """
    table = stays(warehouse, start, end, hospital=hospital, stay_type="MCO")
    return table.filter(table.stay_category.isin(literals(HOSPITAL_CATEGORIES)))


def full_hospital_stays(warehouse: Any, start: str, end: str, hospital: str = "") -> ir.Table:
    """Full-hospitalisation stays (≥ 1 night, séances excluded) discharged in the period: the stays that move between units."""
    table = stays(warehouse, start, end, hospital=hospital)
    return table.filter(table.stay_category == FULL_HOSPITALISATION)


def pmsi_stays(warehouse: Any, year: int, hospital: str = "") -> ir.Table:
    """PMSI stays discharged in `year` that carry a GHM: the case-mix population."""
    table = rss_stays(warehouse, *year_period(year), hospital=hospital)
    return table.filter(table.ghm.notnull())


def casemix(table: ir.Table) -> ir.Table:
    """Stays per CMD, GHM type (C/K/M/Z) and severity level."""
    return count_by(table, ["cmd", "ghm_type", "ghm_severity"], "sejours")


def los_class(nights: ir.IntegerValue) -> ir.StringValue:
    """The length-of-stay class label (:data:`LOS_BINS`) of a number of nights."""
    branches = []
    for low, high, label in LOS_BINS:
        condition = nights >= low if high is None else nights.between(low, high)
        branches.append((condition, label))
    return ibis.cases(*branches, else_="inconnue")


def los_distribution(warehouse: Any, table: ir.Table) -> pd.DataFrame:
    """Executed length-of-stay classes, every class present (0 when empty), in order."""
    known = table.filter(table.nights.notnull())
    grouped = warehouse.execute(known.group_by(classe=los_class(known.nights)).aggregate(sejours=known.count()))
    order = [label for _, _, label in LOS_BINS]
    counts = dict(zip(grouped["classe"], grouped["sejours"]))
    return pd.DataFrame({"classe": order, "sejours": [int(counts.get(label, 0)) for label in order]})


def top_diagnoses(
    warehouse: Any,
    table: ir.Table,
    status: str | None = "DP",
    source: str | None = None,
    n: int = 10,
) -> ir.Table:
    """Most frequent CIM-10 codes among the stays of `table`, counted once per stay."""
    diagnoses = warehouse.view("diagnoses")
    condition = diagnoses.stay_id.isin(table.stay_id)
    if status:
        condition &= diagnoses.status == status
    if source:
        condition &= diagnoses.source == source
    selected = diagnoses.filter(condition)
    return (
        selected.group_by("code")
        .aggregate(sejours=selected.stay_id.nunique())
        .order_by([ibis.desc("sejours"), "code"])
        .limit(n)
    )


def with_cim10_labels(frame: pd.DataFrame, column: str = "code") -> pd.DataFrame:
    """`frame` with the French CIM-10 label of `column` (empty when the nomenclature is not installed)."""
    try:
        labels = vocab.cim10().set_index("code")["label"]
    except (UserError, OSError):
        return frame.assign(libelle=None)
    return frame.assign(libelle=frame[column].map(labels))


def monthly_by_hospital(table: ir.Table, date_column: str = "end_date") -> ir.Table:
    """Stays per hospital and month."""
    return (
        table.group_by(hopital=table.hospital, mois=month_of(table[date_column]))
        .aggregate(sejours=table.count())
        .order_by(["hopital", "mois"])
    )


# --------------------------------------------------------------------------- coding lag


PMSI_SOURCES = ("ORBIS", "AREM")


def coding_lag(
    warehouse: Any, definition: Any, start: str, end: str, hospital: str = "", sources: Sequence[str] = PMSI_SOURCES
) -> pd.DataFrame:
    """Coding exhaustivity per discharge month and source, with how long after discharge it is read.

    The figure is the dictionary's ``exhaustivite_codage`` indicator computed by
    the engine (the same number as the dashboards). One extraction reads
    discharge month M at M+n, n being the months from M to the extraction:
    ``recul`` holds that n, so the last months show the AREM lag.
    """
    filters = {"hospital": [hospital]} if hospital else {}
    frames = []
    for source in sources:
        result = compute(definition, warehouse, by=("month",), start=start, end=end, filters=filters,
                         params={"source": source})
        frames.append(result.frame.assign(source=source))
    frame = pd.concat(frames, ignore_index=True).rename(columns={"month": "mois"})
    extraction = _extraction_month(warehouse)
    frame["recul"] = frame["mois"].map(lambda month: months_between(month, extraction) if extraction else None)
    frame["value"] = frame["value"].astype(float).round(1)
    columns = ["mois", "source", "recul", "numerator", "denominator", "value"]
    return frame[columns].sort_values(["source", "mois"]).reset_index(drop=True)


def coding_at_horizons(lag: pd.DataFrame, horizons: Iterable[int] = (1, 2, 3)) -> pd.DataFrame:
    """Exhaustivity at M+1, M+2, M+3 per source: the months read that long after discharge.

    A horizon whose month lies outside the period requested stays empty.
    """
    rows = []
    for horizon in horizons:
        row: dict[str, Any] = {"horizon": f"M+{horizon}", "mois": None}
        for source in PMSI_SOURCES:
            match = lag[(lag["recul"] == horizon) & (lag["source"] == source)]
            row[source] = float(match["value"].iloc[0]) if not match.empty else None
            if not match.empty:
                row["mois"] = match["mois"].iloc[0]
        if row["ORBIS"] is not None and row["AREM"] is not None:
            row["ecart"] = round(row["ORBIS"] - row["AREM"], 1)
        rows.append(row)
    return pd.DataFrame(rows)


def _extraction_month(warehouse: Any) -> str | None:
    extraction = getattr(warehouse, "extraction_date", None)
    if extraction is None:
        return None
    return pd.Timestamp(extraction).strftime("%Y-%m")


# --------------------------------------------------------------------------- pathways


def unit_pathways(warehouse: Any, table: ir.Table, movement_type: str = "UF", level: str = "service") -> ir.Table:
    """One row per stay: its ordered sequence of units at `level`, repeats collapsed.

    Consecutive movements within the same unit (at that level) are one step, so
    a pathway reads as the transfers a patient went through.
    """
    moves = warehouse.view("unit_stays")
    moves = moves.filter((moves.movement_type == movement_type) & moves.stay_id.isin(table.stay_id))
    unit = moves[level].fill_null("inconnu")
    ordered = ibis.window(group_by=moves.stay_id, order_by=[moves.start_datetime, moves.unit_stay_id])
    moves = moves.mutate(unit=unit, previous=unit.lag().over(ordered))
    steps = moves.filter(moves.previous.isnull() | (moves.unit != moves.previous))
    steps = steps.mutate(
        step=ibis.row_number().over(group_by=steps.stay_id, order_by=[steps.start_datetime, steps.unit_stay_id])
    )
    # An ordered string aggregation is not portable (Spark refuses it): collect (step, unit)
    # pairs, sort the array by step, then join the units.
    collected = steps.group_by("stay_id").aggregate(
        pairs=ibis.struct({"step": steps.step, "unit": steps.unit}).collect(), etapes=steps.count()
    )
    return collected.select(
        "stay_id", parcours=collected.pairs.sort().map(lambda pair: pair.unit).join(" → "), etapes=collected.etapes
    )


def top_pathways(pathways: ir.Table, n: int = 10) -> ir.Table:
    """The most frequent pathways and their number of stays."""
    return (
        pathways.group_by("parcours")
        .aggregate(sejours=pathways.count(), etapes=pathways.etapes.max())
        .order_by([ibis.desc("sejours"), "parcours"])
        .limit(n)
    )


def care_site_names(warehouse: Any) -> dict[str, str]:
    """Care-site code → name, to spell out codes in tables."""
    frame = warehouse.execute(warehouse.view("care_sites").select("code", "name"))
    return dict(zip(frame["code"], frame["name"]))


def spell_pathways(frame: pd.DataFrame, names: dict[str, str]) -> pd.Series:
    """Each ``A → B`` pathway with unit names instead of codes (codes kept when unnamed)."""
    return frame["parcours"].map(lambda path: " → ".join(names.get(code, code) for code in path.split(" → ")))


def transfers_distribution(pathways: ir.Table) -> ir.Table:
    """Stays per number of transfers between units (steps − 1)."""
    return (
        pathways.group_by(transferts=pathways.etapes - 1)
        .aggregate(sejours=pathways.count())
        .order_by("transferts")
    )


def emergency_admissions(warehouse: Any, start: str, end: str, hospital: str = "") -> ir.Table:
    """Per month: emergency visits, full-hospitalisation stays and those entering through the emergency department."""
    table = stays(warehouse, start, end, hospital=hospital, date_column="start_date")
    urgences = table.visit_type == "urgence"
    complete = table.stay_category == "hospitalisation_complete"
    from_er = complete & table.from_emergency.fill_null(False)
    return (
        table.group_by(mois=month_of(table.start_date))
        .aggregate(
            passages_urgences=urgences.sum(),
            hospitalisations=complete.sum(),
            entrees_par_urgences=from_er.sum(),
        )
        .mutate(part_entrees_urgences=lambda t: (t.entrees_par_urgences * 100.0 / t.hospitalisations.nullif(0)).round(1))
        .order_by("mois")
    )


# --------------------------------------------------------------------------- cohorts


def cohort_stays(
    warehouse: Any,
    start: str,
    end: str,
    age_bands: Sequence[str] = (),
    sex: str = "",
    care_site: str = "",
    cim10: Sequence[str] = (),
) -> ir.Table:
    """Stays starting in the period that meet every criterion.

    Age band and sex are those recorded on the stay; the care site matches at
    any level of the tree; CIM-10 prefixes match any diagnosis of the stay
    (any status, any source).
    """
    table = stays(warehouse, start, end, date_column="start_date")
    condition = ibis.literal(True)
    if age_bands:
        condition &= table.age_band.isin(list(age_bands))
    if sex:
        condition &= table.sex == sex
    if care_site:
        condition &= at_care_site(table, care_site)
    if cim10:
        diagnoses = warehouse.view("diagnoses")
        matches = ibis.literal(False)
        for prefix in cim10:
            matches |= diagnoses.code.startswith(prefix.replace(".", "").upper())
        condition &= table.stay_id.isin(diagnoses.filter(matches).stay_id)
    return table.filter(condition)


def age_class(age: ir.IntegerValue) -> ir.StringValue:
    """Ten-year age class label (:data:`PYRAMID_BANDS`)."""
    branches = [
        (age >= low if high is None else age.between(low, high), label) for low, high, label in PYRAMID_BANDS
    ]
    return ibis.cases(*branches, else_="inconnu")


def age_pyramid(warehouse: Any, selected: ir.Table) -> pd.DataFrame:
    """Patients per ten-year age class and sex, age taken at their first selected stay.

    Men are negative so a horizontal bar chart draws the usual pyramid.
    """
    first = selected.group_by("person_id").aggregate(
        age=selected.age.argmin(selected.start_datetime), sex=selected.sex.argmin(selected.start_datetime)
    )
    counts = warehouse.execute(
        first.group_by(classe=age_class(first.age), sexe=first.sex).aggregate(patients=first.count())
    )
    order = [label for _, _, label in PYRAMID_BANDS]
    grid = pd.MultiIndex.from_product([order, ["M", "F"]], names=["classe", "sexe"]).to_frame(index=False)
    grid = grid.merge(counts, on=["classe", "sexe"], how="left").fillna({"patients": 0})
    grid["patients"] = grid["patients"].astype(int)
    grid["effectif"] = grid["patients"].where(grid["sexe"] == "F", -grid["patients"])
    return grid


def biology_summary(warehouse: Any, selected: ir.Table, n: int = 8) -> pd.DataFrame:
    """Distribution (quartiles) of the `n` most frequent numeric lab tests of the selected stays."""
    biology = warehouse.view("biology")
    values = biology.filter(biology.stay_id.isin(selected.stay_id) & biology.value.notnull())
    return warehouse.execute(
        values.group_by(["loinc", "label", "unit"])
        .aggregate(
            mesures=values.count(),
            patients=values.person_id.nunique(),
            p25=values.value.quantile(0.25),
            mediane=values.value.quantile(0.5),
            p75=values.value.quantile(0.75),
        )
        .order_by([ibis.desc("mesures"), "loinc"])
        .limit(n)
    )


def biology_values(warehouse: Any, selected: ir.Table, loincs: Sequence[str]) -> pd.DataFrame:
    """Raw numeric values of some lab tests for the selected stays (for distribution plots)."""
    biology = warehouse.view("biology")
    values = biology.filter(
        biology.stay_id.isin(selected.stay_id) & biology.value.notnull() & biology.loinc.isin(list(loincs))
    )
    return warehouse.execute(values.select("loinc", "label", "unit", "value"))


def distribution_plots(values: pd.DataFrame, columns: int = 2) -> Any:
    """One box plot per lab test and unit, each on its own scale (units must never share an axis).

    A test measured in two units (a known flaw of the source) appears twice,
    which is exactly what the analyst needs to see.
    """
    import holoviews as hv

    label = values["label"].fillna(values["loinc"]) + " (" + values["unit"].fillna("sans unité") + ")"
    plots = [
        group.hvplot.box(y="value", title=name, ylabel="Valeur", xlabel="", height=260, width=330)
        for name, group in values.assign(analyse=label).groupby("analyse", sort=True)
    ]
    return hv.Layout(plots).opts(shared_axes=False).cols(columns)


# --------------------------------------------------------------------------- data quality

QUALITY_TABLES: dict[str, str] = {
    "stays": "start_date",
    "unit_stays": "start_datetime",
    "diagnoses": "datetime",
    "procedures": "datetime",
    "biology": "datetime",
    "drugs": "start_datetime",
    "notes": "datetime",
}
"""Canonical views followed by the data-quality report and the date that places their rows in a month."""


def monthly_volumes(warehouse: Any, start: str, end: str, hospital: str = "") -> pd.DataFrame:
    """Rows per view, hospital and month, each view dated by its own column.

    Views without a hospital column take the hospital of their stay; rows
    without a stay are counted under ``inconnu`` rather than dropped.
    """
    stays_view = warehouse.view("stays").select("stay_id", stay_hospital="hospital")
    frames = []
    for name, column in QUALITY_TABLES.items():
        table = warehouse.view(name)
        if "hospital" not in table.columns:
            table = table.left_join(stays_view, "stay_id").mutate(hospital=lambda t: t.stay_hospital)
        day = table[column].cast("date")
        table = table.filter(in_period(day, start, end))
        if hospital:
            table = table.filter(table.hospital == hospital)
        grouped = table.group_by(hopital=table.hospital.fill_null("inconnu"), mois=month_of(table[column])).aggregate(
            lignes=table.count()
        )
        frame = warehouse.execute(grouped)
        frame.insert(0, "table", name)
        frames.append(frame)
    volumes = pd.concat(frames, ignore_index=True)
    return volumes.sort_values(["table", "hopital", "mois"]).reset_index(drop=True)


def completeness_over_time(volumes: pd.DataFrame) -> pd.DataFrame:
    """c(t) = volume(t) / max volume over the period, per view and hospital (edsteva's probe).

    Months with no row at all appear with 0, so a feed that stopped shows a step.
    """
    months = sorted(volumes["mois"].unique())
    keys = volumes[["table", "hopital"]].drop_duplicates()
    grid = keys.merge(pd.DataFrame({"mois": months}), how="cross")
    grid = grid.merge(volumes, on=["table", "hopital", "mois"], how="left").fillna({"lignes": 0})
    grid["lignes"] = grid["lignes"].astype(int)
    peak = grid.groupby(["table", "hopital"])["lignes"].transform("max")
    grid["completude"] = (grid["lignes"] / peak.where(peak > 0)).round(3)
    return grid


def volume_breaks(volumes: pd.DataFrame, table: str = "stays", ratio: float = 0.5) -> pd.DataFrame:
    """Months where a hospital's volume of `table` falls below `ratio` × its median month.

    The median, unlike the maximum, is not moved by one busy month, so a feed
    that starts late or stops shows up as a run of flagged months (0 rows
    included) even on small hospitals. Rows without a hospital are left out.
    """
    grid = completeness_over_time(volumes)
    grid = grid[(grid["table"] == table) & (grid["hopital"] != "inconnu")].copy()
    grid["reference"] = grid.groupby("hopital")["lignes"].transform("median")
    flagged = grid[grid["lignes"] < ratio * grid["reference"]]
    return flagged[["hopital", "mois", "lignes", "reference"]].reset_index(drop=True)


def stay_coverage(warehouse: Any, start: str, end: str, hospital: str = "") -> pd.DataFrame:
    """Per hospital and month: share of ended stays with a DP, a note, a lab result, a movement."""
    table = stays(warehouse, start, end, hospital=hospital)
    diagnoses = warehouse.view("diagnoses")
    linked = {
        "avec_dp": diagnoses.filter(diagnoses.status == "DP").stay_id,
        "avec_compte_rendu": warehouse.view("notes").stay_id,
        "avec_biologie": warehouse.view("biology").stay_id,
        "avec_mouvement": warehouse.view("unit_stays").stay_id,
    }
    flags = table.mutate(**{name: table.stay_id.isin(ids).cast("int64") for name, ids in linked.items()})
    grouped = flags.group_by(hopital=flags.hospital, mois=month_of(flags.end_date)).aggregate(
        sejours=flags.count(), **{name: flags[name].sum() for name in linked}
    )
    frame = warehouse.execute(grouped.order_by(["hopital", "mois"]))
    for name in linked:
        frame[f"part_{name}"] = (frame[name] / frame["sejours"] * 100).round(1)
    return frame


def column_completeness(warehouse: Any, view: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Share of non-null values of each column of a view."""
    table = warehouse.view(view)
    columns = list(columns or table.columns)
    counts = warehouse.execute(
        table.aggregate(total=table.count(), **{c: table[c].notnull().sum() for c in columns})
    ).iloc[0]
    total = int(counts["total"])
    return pd.DataFrame(
        {
            "vue": view,
            "colonne": columns,
            "renseignes": [int(counts[c]) for c in columns],
            "part_renseignee": [round(int(counts[c]) / total * 100, 1) if total else None for c in columns],
        }
    )
