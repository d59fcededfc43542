"""Registry of the Python implementations named by indicator pages.

A page whose computation is ``kind: python`` names an implementation here. An
implementation is a function ``(warehouse, request) -> ibis.Table`` returning
the requested dimension columns (plus any breakdown column of its own, such as
``cmd`` for the case-mix), then ``numerator``, ``denominator`` and
``n_patients``; the engine adds the value and executes the expression once.
The registration also declares what the validation stages and the engine need
to know without running it: the facts it requires per view, the raw tables it
reads, its parameters and their defaults, the scale of its ratio.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import ibis.expr.types as ir

from workbench.errors import UserError

Implementation = Callable[[Any, Any], ir.Table]


@dataclass(frozen=True)
class Registered:
    """A Python implementation and what it declares about itself."""

    name: str
    function: Implementation
    scale: float = 1.0
    ratio: bool = True
    requires: Mapping[str, tuple[str, ...]] | Callable[[Mapping[str, Any]], Mapping[str, tuple[str, ...]]] = field(
        default_factory=dict
    )
    """Columns per canonical view whose fact the source must carry (else 'non disponible');
    a function of the parameters when it depends on them (RH7 without CMD exclusions needs no GHM)."""
    tables: tuple[str, ...] = ()
    """Raw tables read besides the canonical views (reference tables, capacities)."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Accepted parameters and their defaults."""
    description: str = ""

    def required(self, params: Mapping[str, Any]) -> Mapping[str, tuple[str, ...]]:
        """The facts needed for these parameters, per canonical view."""
        return self.requires(params) if callable(self.requires) else self.requires

    def resolve_params(self, *layers: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults overridden by each layer in turn (page, then request); unknown names are refused."""
        resolved = dict(self.params)
        for layer in layers:
            for key, value in (layer or {}).items():
                if key not in self.params:
                    known = ", ".join(sorted(self.params)) or "aucun"
                    raise UserError(f"params : paramètre inconnu {key!r} pour {self.name} (paramètres : {known})")
                resolved[key] = value
        return resolved


_REGISTRY: dict[str, Registered] = {}
_MODULES = ("lengths", "readmissions", "ip_dms", "occupancy", "case_mix", "emergency", "coding", "anthropometry")


def register(
    name: str,
    *,
    scale: float = 1.0,
    ratio: bool = True,
    requires: Mapping[str, tuple[str, ...]] | Callable[[Mapping[str, Any]], Mapping[str, tuple[str, ...]]] | None = None,
    tables: tuple[str, ...] = (),
    params: Mapping[str, Any] | None = None,
) -> Callable[[Implementation], Implementation]:
    """Decorator: register `function` under `name` so pages can name it."""

    def decorate(function: Implementation) -> Implementation:
        if name in _REGISTRY and _REGISTRY[name].function is not function:
            raise ValueError(f"implementation already registered: {name}")
        _REGISTRY[name] = Registered(
            name=name, function=function, scale=scale, ratio=ratio, requires=requires if callable(requires) else dict(requires or {}),
            tables=tables, params=dict(params or {}), description=(function.__doc__ or "").strip(),
        )
        return function

    return decorate


def _load_all() -> None:
    for module in _MODULES:
        importlib.import_module(f"{__name__}.{module}")


def get(name: str) -> Registered:
    """The implementation registered as `name` (UserError naming the known ones otherwise)."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UserError(f"implementation inconnue : {name!r} (implémentations : {known})") from None


def names() -> list[str]:
    """Every registered implementation name, for the validation stages."""
    _load_all()
    return sorted(_REGISTRY)
