"""The semantic layer: raw tables of either flavour → the canonical views of `views.py`.

Each flavour module (`aphp`, `omop`) defines one builder function per view, named after it.
"""

from __future__ import annotations

from types import ModuleType


def mapping_for(flavour: str) -> ModuleType:
    """The mapping module of a flavour ("aphp" or "omop"); the catalogue already validated the name."""
    if flavour == "aphp":
        from workbench.semantic import aphp

        return aphp
    from workbench.semantic import omop

    return omop
