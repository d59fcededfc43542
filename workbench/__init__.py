"""EDS Workbench: `workbench.open(...)` is the entry point of notebooks and apps.

Attributes are imported lazily so that `import workbench` (and the CLI start-up)
does not pay for Ibis, DuckDB and Intake until data is actually needed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["open", "UserContext", "compute"]

_LAZY = {
    "open": ("workbench.warehouse", "open"),
    "UserContext": ("workbench.access.context", "UserContext"),
    "Warehouse": ("workbench.warehouse", "Warehouse"),
    "compute": ("workbench.indicators.engine", "compute"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(module), attribute)
