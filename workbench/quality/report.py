"""The HTML quality report: one self-contained file (inline SVG charts, no script, no network).

Readable offline and attachable to a mail: synthesis per Kahn category, the
failed checks with their share of violating rows against the threshold, what
changed since the previous run, then every check with its SQL.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from workbench.outputs import write_text
from workbench.quality.disclosure import HIDDEN_IDS, shown_count
from workbench.quality.model import CheckResult, RunResult, Status
from workbench.quality.store import compare

STATUS_LABELS = {"passed": "réussi", "failed": "échoué", "not_applicable": "non applicable", "error": "erreur"}
STATUS_COLOURS = {"passed": "#2e7d32", "failed": "#c62828", "not_applicable": "#9e9e9e", "error": "#ef6c00"}
CATEGORY_LABELS = {"conformance": "Conformité", "completeness": "Complétude", "plausibility": "Plausibilité"}

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;width:100%;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}
.status{color:#fff;padding:1px 6px;border-radius:3px;font-size:0.85em;white-space:nowrap}
pre{white-space:pre-wrap;font-size:0.8em;background:#fafafa;padding:6px}
.muted{color:#666}
"""


def write_report(run: RunResult, previous: RunResult | None, out: Path) -> Path:
    """Write the report of `run` (compared with `previous`) to `out`."""
    return write_text(Path(out), render(run, previous))


def render(run: RunResult, previous: RunResult | None) -> str:
    """The report as an HTML string."""
    failed = [r for r in run.results if r.status in (Status.failed, Status.error)]
    parts = [
        "<!DOCTYPE html><html lang='fr'><head><meta charset='utf-8'>",
        f"<title>Qualité des données – {escape(run.run_id)}</title><style>{_STYLE}</style></head><body>",
        "<h1>Rapport de qualité des données</h1>",
        _header(run),
        "<h2>Synthèse par catégorie</h2>",
        _category_chart(run.results),
        f"<h2>Contrôles en échec ({len(failed)})</h2>",
        _failed_chart(failed),
        _failed_table(failed),
        "<h2>Évolution depuis l'exécution précédente</h2>",
        _changes(run, previous),
        "<h2>Tous les contrôles</h2>",
        _all_table(run.results),
        "</body></html>",
    ]
    return "\n".join(parts)


def _badge(status: str) -> str:
    return f"<span class='status' style='background:{STATUS_COLOURS[status]}'>{STATUS_LABELS[status]}</span>"


def _header(run: RunResult) -> str:
    counts = {status.value: 0 for status in Status}
    for result in run.results:
        counts[result.status.value] += 1
    summary = " · ".join(f"{_badge(status)} {count}" for status, count in counts.items())
    return (
        f"<p>Exécution <b>{escape(run.run_id)}</b> du {escape(run.started_at)} – instantané "
        f"<code>{escape(str(run.snapshot_id))}</code> – {len(run.results)} contrôles en {run.duration_s:.1f} s"
        f"{' – catalogue ' + escape(run.catalog) if run.catalog else ''}</p><p>{summary}</p>"
    )


def _category_chart(results: list[CheckResult]) -> str:
    """Stacked horizontal bars: checks per status in each Kahn category."""
    width, bar, gap, left = 700, 26, 10, 120
    categories = list(CATEGORY_LABELS)
    height = len(categories) * (bar + gap) + 30
    total = max(1, max(sum(1 for r in results if r.category == c) for c in categories))
    scale = (width - left - 20) / total
    shapes = []
    for row, category in enumerate(categories):
        y = row * (bar + gap) + 5
        shapes.append(f"<text x='0' y='{y + bar * 0.7}' font-size='13'>{CATEGORY_LABELS[category]}</text>")
        x = float(left)
        for status in STATUS_LABELS:
            n = sum(1 for r in results if r.category == category and r.status.value == status)
            if n:
                w = n * scale
                shapes.append(
                    f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{bar}' fill='{STATUS_COLOURS[status]}'>"
                    f"<title>{STATUS_LABELS[status]} : {n}</title></rect>"
                    f"<text x='{x + 3:.1f}' y='{y + bar * 0.7}' font-size='12' fill='#fff'>{n}</text>"
                )
                x += w
    legend = "".join(
        f"<rect x='{left + i * 130}' y='{height - 18}' width='12' height='12' fill='{STATUS_COLOURS[s]}'/>"
        f"<text x='{left + i * 130 + 16}' y='{height - 8}' font-size='12'>{STATUS_LABELS[s]}</text>"
        for i, s in enumerate(STATUS_LABELS)
    )
    return f"<svg width='{width}' height='{height}' role='img' aria-label='Synthèse par catégorie'>{''.join(shapes)}{legend}</svg>"


def _failed_chart(failed: list[CheckResult]) -> str:
    """Share of violating rows of each failed check (bar) against its threshold (black tick).

    Square-root scale: shares range from 0.01 % to 100 %, and a linear axis would
    flatten every small share against the largest one.
    """
    rows = [r for r in failed if r.pct_violated_rows is not None]
    if not rows:
        return "<p class='muted'>Aucun contrôle en échec.</p>"
    rows.sort(key=lambda r: -(r.pct_violated_rows or 0))
    width, bar, left = 900, 16, 360
    height = len(rows) * (bar + 4) + 24
    top = max(max(r.pct_violated_rows or 0 for r in rows), max(r.threshold for r in rows), 0.01) ** 0.5
    span = (width - left - 70) / top

    def position(pct: float) -> float:
        return max(pct, 0.0) ** 0.5 * span

    shapes = []
    for i, r in enumerate(rows):
        y = i * (bar + 4)
        w = max(1.0, position(r.pct_violated_rows or 0))
        tick = left + position(r.threshold)
        shapes.append(
            f"<text x='{left - 6}' y='{y + bar - 4}' font-size='11' text-anchor='end'>{escape(r.id)}</text>"
            f"<rect x='{left}' y='{y}' width='{w:.1f}' height='{bar}' fill='{STATUS_COLOURS[r.status.value]}'>"
            f"<title>{r.pct_violated_rows} % (seuil {r.threshold} %)</title></rect>"
            f"<line x1='{tick:.1f}' x2='{tick:.1f}' y1='{y - 1}' y2='{y + bar + 1}' stroke='#000' stroke-width='2'/>"
            f"<text x='{left + w + 4:.1f}' y='{y + bar - 4}' font-size='11'>{_pct(r.pct_violated_rows)}</text>"
        )
    caption = (f"<text x='{left}' y='{height - 4}' font-size='11' fill='#666'>% de lignes en violation "
               "(échelle en racine carrée ; trait noir : seuil toléré)</text>")
    return f"<svg width='{width}' height='{height}' role='img' aria-label='Contrôles en échec'>{''.join(shapes)}{caption}</svg>"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.3g} %"


def _count(result: CheckResult, name: str) -> str:
    """A count or share of the report; « < k » when masked for an aggregates-only reader."""
    return escape(shown_count(result, name, lambda value: "" if value is None else str(value)))


def _shown_pct(result: CheckResult) -> str:
    return escape(shown_count(result, "pct_violated_rows", _pct))


def _samples(result: CheckResult) -> str:
    """Sample ids, or the note that they are withheld (a masked result never carries them)."""
    if hasattr(result, "masked_fields"):
        return f"<i>{escape(HIDDEN_IDS)}</i> "
    return escape(", ".join(str(i) for i in result.sample_ids[:10]))


def _failed_table(failed: list[CheckResult]) -> str:
    if not failed:
        return ""
    rows = "".join(
        f"<tr><td><code>{escape(r.id)}</code></td><td>{_badge(r.status.value)}</td><td>{escape(r.description)}</td>"
        f"<td>{_count(r, 'num_violated_rows')} / {_count(r, 'num_denominator_rows')}</td>"
        f"<td>{_shown_pct(r)}</td><td>{r.threshold} %</td>"
        f"<td>{_samples(r)}{escape(r.reason or '')}</td></tr>"
        for r in failed
    )
    return (
        "<table><tr><th>Contrôle</th><th>Statut</th><th>Description</th><th>Lignes en violation / contrôlées</th>"
        f"<th>%</th><th>Seuil</th><th>Exemples d'identifiants / raison</th></tr>{rows}</table>"
    )


def _changes(run: RunResult, previous: RunResult | None) -> str:
    if previous is None:
        return "<p class='muted'>Première exécution enregistrée : pas de comparaison.</p>"
    changes = compare(previous, run)
    moved = [c for c in changes if c.verdict not in ("stable", "retiré")]
    removed = sum(c.verdict == "retiré" for c in changes)
    intro = f"<p>Comparée à l'exécution {escape(previous.run_id)} (instantané <code>{escape(str(previous.snapshot_id))}</code>)."
    intro += f" {removed} contrôle(s) de l'exécution précédente non relancé(s).</p>" if removed else "</p>"
    if not moved:
        return intro + "<p class='muted'>Aucun changement.</p>"
    rows = "".join(
        f"<tr><td><code>{escape(c.id)}</code></td><td>{escape(c.verdict)}</td>"
        f"<td>{STATUS_LABELS.get(c.before or '', '—')} {_pct(c.pct_before)}</td>"
        f"<td>{STATUS_LABELS.get(c.after or '', '—')} {_pct(c.pct_after)}</td></tr>"
        for c in moved
    )
    return intro + f"<table><tr><th>Contrôle</th><th>Évolution</th><th>Avant</th><th>Après</th></tr>{rows}</table>"


def _all_table(results: list[CheckResult]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(r.id)}</code></td><td>{CATEGORY_LABELS.get(r.category, r.category)}</td>"
        f"<td>{escape(r.level)}</td><td>{escape(r.table)}</td><td>{_badge(r.status.value)}</td>"
        f"<td>{_shown_pct(r)}</td><td>{r.threshold} %</td><td>{r.execution_time_s:.2f} s</td>"
        f"<td>{escape(r.description)}{'<br><i>' + escape(r.reason) + '</i>' if r.reason else ''}"
        f"{'<details><summary>SQL</summary><pre>' + escape(r.sql) + '</pre></details>' if r.sql else ''}</td></tr>"
        for r in results
    )
    return (
        "<table><tr><th>Contrôle</th><th>Catégorie</th><th>Niveau</th><th>Table</th><th>Statut</th><th>%</th>"
        f"<th>Seuil</th><th>Durée</th><th>Description</th></tr>{rows}</table>"
    )
