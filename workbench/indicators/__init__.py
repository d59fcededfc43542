"""The indicator dictionary (wiki pages) and the engine that executes it.

`compute` (the router of :mod:`workbench.indicators.engine`, also
`workbench.compute`) and `IndicatorResult` are attributes of the package,
imported lazily: importing `workbench.indicators.model` (pydantic only) must
not load the engine, ibis and the disclosure policy.
"""

from __future__ import annotations

from typing import Any

__all__ = ["IndicatorResult", "compute", "compute_by_id"]

_LAZY = {
    "compute": ("workbench.indicators.engine", "compute"),
    "compute_by_id": ("workbench.indicators.engine", "compute_by_id"),
    "IndicatorResult": ("workbench.indicators.result", "IndicatorResult"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'workbench.indicators' has no attribute {name!r}")
    import importlib  # lazy attribute: start-up speed (see the module docstring)

    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(module), attribute)
