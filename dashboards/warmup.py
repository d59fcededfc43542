"""The server's warm-up: compute, at start, what the first visitors of the default pages would wait for.

Out of the pilotage page (which only lays out one session's view) since it
crosses pages — the pilotage figures, the catalogue's table summary, the
quality checks of every indicator — and runs once per server, not per session.
"""

from __future__ import annotations

import time
from typing import Any

from dashboards import components as c
from dashboards.auth import access_file
from dashboards.catalogue import tables_summary
from dashboards.months import last_complete_month, shift_month
from dashboards.pilotage import DEFAULT_DETAIL, DEFAULT_KPIS, View, compute_figures, default_year
from workbench import audit
from workbench.access import AGGREGATES_ONLY, load_access, policy_key, row_access, user_context
from workbench.quality.status import warm_quality
from workbench.warehouse import open as open_warehouse


def warm_up() -> None:
    """At server start, compute the default view's figures as its first visitors would see them.

    This materialises the canonical views on the shared connection (the
    longest part of a cold start on a large warehouse, shared by every user),
    counts the quality checks of every indicator, reads the catalogue's table
    summary, and, when login is on,
    computes the protected cube of the default year for the accounts under the
    disclosure policy (référents pilotage share it), so the first page does not
    pay for them. Failures are only logged: the pages show them to their visitors.
    """
    began = time.perf_counter()
    try:
        accounts = _policy_accounts()
        for user in [None, *accounts]:  # nobody asked: audited under the system identity, with the role's rights
            handle = open_warehouse(catalog=c.catalog_path(), user=audit.as_system(user))
            scope = c.Scope(str(c.catalog_path()), "" if user is None else policy_key(user), handle, c.dictionary())
            last = last_complete_month(handle.extraction_date)
            kpis = tuple(ident for ident in DEFAULT_KPIS if ident in scope.dictionary.indicators)
            start, end = (shift_month(last, -11), last) if user is None else (default_year(last), f"{default_year(last)[:4]}-12")
            compute_figures(scope, View(kpis, DEFAULT_DETAIL, start, end, "month", {}, "hospital", user is not None))
            if user is None:
                warm_quality(handle, [page.definition for page in scope.dictionary.indicators.values()])
                tables_summary(scope)
        c.log.info("préchauffage terminé en %.1f s (vue par défaut, contrôles qualité, cube protégé de %d politique(s))",
                   time.perf_counter() - began, len(accounts))
    except Exception as error:  # noqa: BLE001 - a server without its warehouse still serves its error pages
        c.log.warning("préchauffage du tableau de bord impossible : %s", error)


def _policy_accounts() -> list[Any]:
    """One account per distinct policy among the users without patient-level rights (login on only)."""
    path = access_file()
    if path is None:
        return []
    accounts_file = load_access(path)
    accounts: dict[str, Any] = {}
    for name, entry in sorted(accounts_file.users.items()):
        user = user_context(name, entry, accounts_file)
        if row_access(user) == AGGREGATES_ONLY:
            accounts.setdefault(policy_key(user), user)
    return list(accounts.values())
