"""Who is asking: the `UserContext` every query of the workbench carries.

Its own module, free of imports, so that the warehouse, the audit trail and the
access policy all use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class UserContext:
    """Who is asking (see `workbench.access`): the default is the local administrator.

    `perimeter` lists care-site codes (covering their descendants; empty =
    everything), `nominative` the right to read `person_identity`, `min_count`
    the disclosure threshold applied to users without patient-level rights.
    `system` marks work nobody asked for (the server's warm-up computing what a
    role will see): the audit writes it under the system identity, not the name.
    """

    name: str = "local"
    role: str = "admin"
    perimeter: frozenset[str] = field(default_factory=frozenset)  # empty = everything
    nominative: bool = True
    min_count: int = 10
    system: bool = False
