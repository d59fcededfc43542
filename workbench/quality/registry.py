"""The registry of declared checks, in declaration order.

Family modules (`conformance`, `completeness`, `plausibility`, `feeds`) call
:func:`declare` at import time; `workbench.quality.checks` imports them all and
is the one place that lists, selects and validates the declarations.
"""

from __future__ import annotations

from typing import Callable

from workbench.quality.model import Category, Check, Context, Level, Severity

_REGISTRY: dict[str, Check] = {}


def declare(
    id: str,
    *,
    category: Category,
    context: Context,
    level: Level,
    table: str,
    field: str | None,
    description: str,
    threshold: float,
    severity: Severity,
    build: Callable,
    subcategory: str | None = None,
) -> Check:
    """Declare one check; ids are unique so results can be compared run over run."""
    if id in _REGISTRY:
        raise ValueError(f"contrôle déclaré deux fois : {id}")
    if not 0.0 <= threshold <= 100.0:
        raise ValueError(f"{id} : seuil hors de [0, 100] : {threshold}")
    check = Check(
        id=id, context=context, category=category, level=level, table=table, field=field,
        description=description, threshold=threshold, severity=severity, build=build,
        subcategory=subcategory,
    )
    _REGISTRY[id] = check
    return check


def registered() -> list[Check]:
    return list(_REGISTRY.values())

