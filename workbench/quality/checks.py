"""The catalogue of data-quality checks: every family, in declaration order.

Importing this module imports the family modules, whose `declare(...)` calls
fill the registry. Ids are stable: they key the results store and the
run-over-run comparison, and indicator pages cite them as required checks.
"""

from __future__ import annotations

from typing import Sequence

from workbench.errors import UserError
# Declaration order is listing and report order: conformance, completeness, plausibility.
from workbench.quality import conformance  # noqa: F401, I001 - declarations
from workbench.quality import completeness  # noqa: F401
from workbench.quality import feeds  # noqa: F401
from workbench.quality import plausibility  # noqa: F401
from workbench.quality import biology  # noqa: F401
from workbench.quality import dqd  # noqa: F401 - the standard-OMOP set, generated from DQD's specification
from workbench.quality.model import Check
from workbench.quality.registry import registered


def all_checks() -> list[Check]:
    """Every declared check, in declaration order."""
    return registered()


def select_checks(ids: Sequence[str] | None = None) -> list[Check]:
    """The checks named in `ids` (all when None); an unknown id is a user error naming it.

    An id ending in ``*`` selects every check starting with the prefix (``person_*``).
    """
    checks = all_checks()
    if not ids:
        return checks
    known = {check.id: check for check in checks}
    selected: dict[str, Check] = {}
    for wanted in ids:
        if wanted.endswith("*"):
            matches = [check for check in checks if check.id.startswith(wanted[:-1])]
        else:
            matches = [known[wanted]] if wanted in known else []
        if not matches:
            raise UserError(f"contrôle qualité inconnu : {wanted} (voir `workbench quality list`)")
        selected.update((check.id, check) for check in matches)
    return list(selected.values())
