"""Who may read data-quality runs, on which rows, and how much of them.

Quality checks read the raw tables: their counts are row counts and their
samples are patient-level identifiers. The rule, shared by the quality page
and `workbench quality`:

- a user without row filter (admin, patient-level role without perimeter)
  reads the whole warehouse's run exactly;
- a patient-level user restricted to a perimeter reads checks run on their own
  rows (never stored: a run of part of the warehouse is not the warehouse's);
- a user without patient-level rights whose role has `quality_reports`
  (équipe entrepôt) reads the whole warehouse's run — computed on
  `warehouse.unrestricted()`, as the indicator engine does for aggregates —
  only through :func:`for_aggregate_user`: sample ids and error details
  removed, counts of 1 to k-1 rows (and the share they would give away)
  masked; statuses, thresholds and SQL kept;
- anyone else (référent pilotage) is refused, and the attempt audited.

Every read through :func:`disclose` writes a `quality` event to the audit log.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, Callable

from workbench import access, audit
from workbench.access.model import DEFAULT_MIN_COUNT
from workbench.access.context import UserContext
from workbench.quality.model import CheckResult, RunResult, Status

COUNT_FIELDS = ("num_violated_rows", "num_denominator_rows")
"""Counts of rows a check returns; under k they could single out a few patients."""
SHARE_FIELD = "pct_violated_rows"
HIDDEN_IDS = "identifiants non affichés : données individuelles, réservées aux rôles ayant accès aux lignes patients"
HIDDEN_ERROR = "détail masqué (il peut citer des valeurs des données)"


class QualityAccess(str, Enum):
    """How a user reads quality runs (see the module docstring)."""

    exact = "exact"
    own_rows = "own_rows"
    masked = "masked"


def quality_access(user: Any, **where: Any) -> QualityAccess:
    """The user's way of reading quality runs; a refused user gets an audited `UserError`.

    `where` names the surface in the audit line of a refusal (``surface=…`` or ``command=…``).
    `user` None is the local administrator (CLI without --utilisateur, app without login).
    """
    reading = access.row_access(user)
    if reading == access.ALL_ROWS:
        return QualityAccess.exact
    if reading == access.PERIMETER_ROWS:
        return QualityAccess.own_rows
    if access.role_of(user).quality_reports:
        return QualityAccess.masked
    raise access.refused(
        user, f"accès refusé : le rôle {user.role} n'a pas accès aux rapports de qualité des données (réservés à "
        "l'équipe entrepôt, aux administrateurs et aux rôles ayant accès aux lignes patients)", **where,
    )


def quality_source(user: Any, warehouse: Any, **where: Any) -> tuple[Any, bool]:
    """The warehouse the checks run on for `user`, and whether that run is the whole warehouse's (to store).

    The équipe entrepôt's own handle refuses every raw table, so its checks run
    on the unrestricted source; what they return reaches it only through
    :func:`disclose`.
    """
    way = quality_access(user, **where)
    if way is QualityAccess.own_rows:
        return warehouse, False
    if way is QualityAccess.masked:
        return warehouse.unrestricted(), True
    return warehouse, True


@dataclasses.dataclass
class MaskedCheckResult(CheckResult):
    """A check result as an aggregates-only user sees it: `masked_fields` are None and read « < k »."""

    masked_fields: tuple[str, ...] = ()
    min_count: int = DEFAULT_MIN_COUNT

    JSON_KEYS = (*CheckResult.JSON_KEYS, "masked", "masked_fields")

    @property
    def masked(self) -> bool:
        return bool(self.masked_fields)


def _small(value: int | None, min_count: int) -> bool:
    """1 to k-1 rows: few enough to point at patients. Zero points at no one (and a status often says it)."""
    return value is not None and 0 < value < min_count


def masked_result(result: CheckResult, min_count: int) -> MaskedCheckResult:
    """One check result without what points at patients (see :func:`for_aggregate_user`)."""
    values = {field.name: getattr(result, field.name) for field in dataclasses.fields(CheckResult)}
    hidden = [name for name in COUNT_FIELDS if _small(values[name], min_count)]
    if hidden:  # the share and the shown count would give the masked one back
        hidden.append(SHARE_FIELD)
    for name in hidden:
        values[name] = None
    values["sample_ids"] = []
    if result.status is Status.error and result.reason:  # an engine message may quote a data value
        values["reason"] = f"{result.reason.split(':', 1)[0]} : {HIDDEN_ERROR}"
    return MaskedCheckResult(**values, masked_fields=tuple(hidden), min_count=min_count)


def for_aggregate_user(run: RunResult, min_count: int = DEFAULT_MIN_COUNT) -> RunResult:
    """A copy of `run` fit for a user without patient-level rights (the run itself is left untouched).

    Sample ids removed, error details removed, counts of 1 to `min_count`-1
    rows set to None and flagged (with the share of violating rows, which with
    the other count would give them back); statuses, thresholds and SQL kept —
    the SQL is the check's definition, not data.
    """
    return dataclasses.replace(run, results=[masked_result(result, min_count) for result in run.results])


def masked_counts(run: RunResult) -> int:
    """How many row counts of `run` are masked (for the audit line)."""
    return sum(name in COUNT_FIELDS for result in run.results for name in getattr(result, "masked_fields", ()))


def disclose(user: Any, run: RunResult, **where: Any) -> RunResult:
    """What `user` may see of `run` (masked for aggregates-only readers), the read written to the audit log."""
    way = quality_access(user, **where)
    shown = for_aggregate_user(run, getattr(user, "min_count", DEFAULT_MIN_COUNT)) if way is QualityAccess.masked else run
    audit.write("quality", user or UserContext(), run_id=run.run_id, checks=len(shown.results),
                masked=masked_counts(shown), policy=way is QualityAccess.masked, **where)
    return shown


def shown_count(result: CheckResult, name: str, number: Callable[[Any], str] = str) -> str:
    """A count or share as a reader sees it: « < k » for a masked count, « masqué » for a masked share."""
    if name in getattr(result, "masked_fields", ()):
        return "masqué" if name == SHARE_FIELD else f"< {getattr(result, 'min_count', DEFAULT_MIN_COUNT)}"
    return number(getattr(result, name))


def shown_value(result: CheckResult, name: str) -> Any:
    """A count for a table cell: its value, or the text « < k » when masked (so a sort or an export says it)."""
    return shown_count(result, name) if name in getattr(result, "masked_fields", ()) else getattr(result, name)
