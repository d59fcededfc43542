"""The dimensions of the workbench: names, grains, care-site levels and published member sets — the one list.

An indicator is broken down by a fixed set of dimensions; the canonical views
carry them as columns with closed sets of members; the disclosure policy
publishes some of them as hierarchies (care sites, time) and flat attributes;
notebooks and pages offer them as choices. They all import the lists below
(like MetricFlow's ``time_granularity``), so adding a dimension or a member is
one edit here, and the engine, the views' contract and the policy agree.

The module imports nothing from the project: every layer may depend on it.
"""

from __future__ import annotations

OTHER = "autre"
"""The member a flavour maps an unknown source value to (never silently dropped)."""

# --- members of the categorical dimensions (the views' closed categories) ---------------------------------

VISIT_TYPES: tuple[str, ...] = ("hospitalisés", "hospitalisation incomplète", "urgence", "consultation externe", OTHER)
STAY_TYPES: tuple[str, ...] = ("MCO", "SSR", "PSY", "SLD", OTHER)
AGE_BANDS: tuple[str, ...] = ("0-17", "18-44", "45-64", "65-74", "75-84", "85+")
SEXES: tuple[str, ...] = ("M", "F", "inconnu")

# --- time -------------------------------------------------------------------------------------------------

GRAINS: tuple[str, ...] = ("month", "quarter", "year")
"""The time grains (and time dimensions) of a request, finest first."""
TIME_DIMENSIONS = GRAINS
TIME_LEVELS: tuple[str, ...] = ("year", "quarter", "month")
"""The time hierarchy as the disclosure policy publishes it, coarsest first."""

# --- care sites -------------------------------------------------------------------------------------------

CARE_SITE_DIMENSIONS: tuple[str, ...] = ("hospital", "pole", "service", "uf")
"""The care-site levels a request may break down or filter by, coarsest first (columns of the views)."""
SITE_LEVELS: tuple[str, ...] = ("hospital", "pole", "service")
"""The care-site levels the disclosure policy publishes (the UF is too fine to publish)."""
TREE_LEVELS: dict[str, str] = {"hospital": "hopital", "pole": "pole", "service": "service", "uf": "uf"}
"""Dimension name -> the `level` value of its nodes in the `care_sites` view."""

# --- every dimension --------------------------------------------------------------------------------------

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "stay_type": STAY_TYPES, "visit_type": VISIT_TYPES, "age_band": AGE_BANDS, "sex": SEXES,
}
"""The flat dimensions (no hierarchy) with the members a filter may name."""

DIMENSIONS: tuple[str, ...] = (*CARE_SITE_DIMENSIONS, *GRAINS, *ATTRIBUTES)
"""The fixed dimension names an indicator may be broken down by."""
