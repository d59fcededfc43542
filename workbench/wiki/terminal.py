"""An indicator page in the terminal (``workbench indicators show``), rendered with rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from workbench.indicators.dictionary import IndicatorPage
from workbench.indicators.model import DeclarativeComputation, IndicatorVersion
from workbench.wiki.render import dimension_labels, format_value


def describe_computation(version: IndicatorVersion) -> str:
    """One line saying how a version computes (view and measures, or the implementation)."""
    comp = version.computation
    if isinstance(comp, DeclarativeComputation):
        measure = f"{comp.numerator.agg}({comp.numerator.column or '*'})"
        if comp.denominator is not None:
            measure += f" / {comp.denominator.agg}({comp.denominator.column or '*'})"
        if comp.scale != 1:
            measure += f" × {comp.scale:g}"
        return f"déclaratif sur « {comp.view} » par {comp.period_column} : {measure}"
    params = ", ".join(f"{k}={v}" for k, v in comp.params.items())
    return f"Python : {comp.implementation}" + (f" ({params})" if params else "")


def effective(version: IndicatorVersion) -> str:
    end = version.effective_to.isoformat() if version.effective_to else "…"
    return f"{version.effective_from.isoformat()} → {end}"


def _facts_table(page: IndicatorPage) -> Table:
    d = page.definition
    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("Numérateur", d.numerator), ("Dénominateur", d.denominator or "—"), ("Unité", d.unit),
        ("Dimensions", dimension_labels(list(d.dimensions))), ("Inclusions", "\n".join(d.inclusions) or "—"),
        ("Exclusions", "\n".join(d.exclusions) or "—"),
        ("Sources", "\n".join(f"{s.table} : {', '.join(s.columns)}" for s in d.sources)),
        ("Contrôles qualité", ", ".join(d.quality_checks) or "—"),
        ("Référent", d.referent), ("Statut", "validé" if d.status == "validated" else "brouillon"),
    ]
    for label, value in rows:
        table.add_row(label, escape(value))
    return table


def _versions_table(page: IndicatorPage) -> Table:
    table = Table(title="Versions")
    for column in ("Version", "En vigueur", "Changement", "Calcul"):
        table.add_column(column)
    for version in sorted(page.definition.versions, key=lambda v: v.effective_from):
        table.add_row(version.version, effective(version), escape(version.change), escape(describe_computation(version)))
    return table


def _value_lines(page: IndicatorPage, result: Any, console: Console) -> None:
    unit = page.definition.unit
    frame = result.frame
    period = result.stamp.get("periode", "")
    header = f"Valeur (période {period}, version {result.version}, instantané {result.stamp.get('snapshot_id')})"
    if len(frame) == 1 and not [c for c in frame.columns if c not in _METRIC_COLUMNS]:
        row = frame.iloc[0]
        console.print(f"[bold]{escape(header)} :[/bold] {format_value(row['value'], unit)}", soft_wrap=True)
        if "denominator" in frame and row.get("denominator") is not None and page.definition.denominator:
            console.print(f"  numérateur {format_value(row['numerator'])} / dénominateur {format_value(row['denominator'])}",
                          soft_wrap=True)
        return
    table = Table(title=header)
    keys = [c for c in frame.columns if c not in _METRIC_COLUMNS]
    for column in (*keys, "valeur", "numérateur", "dénominateur"):
        table.add_column(column)
    for _, row in frame.iterrows():
        table.add_row(*[str(row[k]) for k in keys], format_value(row["value"], unit),
                      format_value(row["numerator"]), format_value(row.get("denominator")))
    console.print(table)


_METRIC_COLUMNS = ("value", "numerator", "denominator", "n_patients", "indicator_version", "snapshot_id")


def render(
    page: IndicatorPage,
    result: Any | None,
    problem: str | None = None,
    console: Console | None = None,
    quality: Any | None = None,
) -> None:
    """Print the page: definition, facts, versions, pitfalls, lineage, the current value and its quality badge."""
    console = console or Console(width=max(Console().width, 120))
    d = page.definition
    console.rule(f"[bold]{escape(d.name)}[/bold] ({d.id}) — {escape(d.theme)}")
    console.print(escape(d.definition))
    console.print(_facts_table(page))
    console.print(_versions_table(page))
    if d.pitfalls:
        console.print("[bold]Pièges[/bold]")
        for pitfall in d.pitfalls:
            console.print(f"  • {escape(pitfall)}")
    if result is not None and result.lineage:
        console.print("[bold]Lignage (tables et colonnes lues)[/bold]")
        for table, columns in sorted(result.lineage.items()):
            console.print(f"  {table} : {', '.join(columns)}", soft_wrap=True)
    if problem is not None:
        console.print(f"[bold]Valeur :[/bold] indisponible ({escape(problem)})", soft_wrap=True)
    elif result is not None and result.status != "ok":
        console.print(f"[bold]Valeur :[/bold] {result.status}", soft_wrap=True)
    elif result is not None:
        _value_lines(page, result, console)
    if quality is not None:
        console.print(f"[bold]Qualité des données d'entrée :[/bold] {escape(quality.label)}", soft_wrap=True)
        for reason in quality.reasons():
            console.print(f"  • {escape(reason)}", soft_wrap=True)
    console.print(f"Page : {page.page.path}", soft_wrap=True)
