"""Administration page: the accounts of access.yaml with their role and perimeter, and the recent logins.

Only the `admin` role sees it; accounts are managed with `workbench users`
(the page reads, it never writes).
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import panel as pn

from dashboards import components as c


@pn.cache(max_items=4)
def _site_names(catalog: str, snapshot: str) -> dict[str, str]:
    handle = c.warehouse()
    sites = handle.view("care_sites")
    frame = handle.execute(sites.select("code", "name"))
    return dict(zip(frame["code"], frame["name"]))


def users_html(access: Any, names: dict[str, str]) -> str:
    escape = html.escape
    def perimeter(codes: tuple[str, ...]) -> str:
        return ", ".join(f"{code} ({names.get(code, '?')})" for code in codes) or "tout l'entrepôt"

    rows = "".join(
        f'<tr class="wb-account" data-user="{escape(name)}"><td><code>{escape(name)}</code></td><td>{escape(entry.role)}</td>'
        f'<td class="wb-perimeter">{escape(perimeter(entry.perimeter))}</td>'
        f'<td>{"oui" if entry.nominative or entry.role == "admin" else "non"}</td></tr>'
        for name, entry in sorted(access.users.items())
    )
    return (
        '<table class="wb-accounts" style="width:100%;border-collapse:collapse"><thead><tr><th>Compte</th><th>Rôle</th>'
        f"<th>Périmètre</th><th>Droit nominatif</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def logins_frame(limit: int = 50) -> pd.DataFrame:
    from workbench import audit

    events = [e for e in audit.read() if e.get("event") == "login"][-limit:][::-1]
    return pd.DataFrame(
        [{"date": e.get("time"), "compte": e.get("user"), "réussie": "oui" if e.get("ok") else "non"} for e in events],
        columns=["date", "compte", "réussie"],
    )


@c.guarded("La page d'administration")
def content() -> list[Any]:
    from dashboards.auth import access_file
    from workbench.access import load_access

    path = access_file()
    if path is None:
        return [c.Alert("La connexion est désactivée sur ce serveur (pas de fichier access.yaml) : "
                              "aucun compte à administrer.", alert_type="info")]
    user = c.current_user()
    if user is None or user.role != "admin":
        return [c.Alert("Accès refusé : cette page est réservée au rôle admin.", alert_type="danger",
                              css_classes=["wb-refused"])]
    access = load_access(path)
    handle = c.warehouse()
    names = _site_names(str(c.catalog_path()), str(handle.snapshot_id))
    return [
        c.Markdown(f"## Comptes ({len(access.users)})\nFichier : `{path}` — seuil de diffusion : "
                         f"{access.policy.min_count}. Gestion : `workbench users add|remove|passwd`."),
        c.HTML(users_html(access, names), sizing_mode="stretch_width"),
        c.Markdown("## Dernières connexions"),
        pn.widgets.Tabulator(logins_frame(), show_index=False, disabled=True, sizing_mode="stretch_width", height=320),
        *loads_section(handle),
    ]


def loads_section(handle: Any) -> list[Any]:
    """« Chargements »: the FHIR loads of the served warehouse and their quarantine counts (read-only)."""
    from workbench.fhir.load import loads_table

    found = loads_table(handle)
    if found is None:
        return [c.Markdown("## Chargements\nAucun chargement FHIR dans cet entrepôt (`workbench ingest fhir`).")]
    loads, quarantine = found
    return [
        c.Markdown(f"## Chargements ({len(loads)})\nChargements FHIR de l'entrepôt ; détail : `workbench ingest status` "
                   "et `workbench ingest quarantine`."),
        pn.widgets.Tabulator(loads, show_index=False, disabled=True, sizing_mode="stretch_width", height=240,
                             css_classes=["wb-loads"]),
        c.Markdown("### Quarantaine par chargement et motif"),
        pn.widgets.Tabulator(quarantine, show_index=False, disabled=True, sizing_mode="stretch_width", height=200,
                             css_classes=["wb-quarantine"]),
    ]


def build() -> pn.template.BaseTemplate:
    main = content()
    return c.page("admin", main if isinstance(main, list) else [main])
