"""DMS version 3 (from 2027): the MCO field only, as ATIH defines it; version 2 mixed every PMSI field.

Stays ending in January 2027, all full hospitalisations of hôpital 014:

| stay | field | nights |
|------|-------|--------|
| 1    | MCO   | 2      |
| 2    | MCO   | 4      |
| 3    | SSR   | 20     |
| 4    | PSY   | 9      |

Version 2: (2 + 4 + 20 + 9) / 4 = 8.75 nights; version 3: (2 + 4) / 2 = 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute

from .fixtures import Fixture, Stay, build_warehouse

WIKI = Path(__file__).resolve().parents[2] / "wiki"
FIXTURE = Fixture(stays=[
    Stay(1, 1, "2027-01-02 10:00", "2027-01-04 10:00"),
    Stay(2, 2, "2027-01-05 10:00", "2027-01-09 10:00"),
    Stay(3, 3, "2026-12-25 10:00", "2027-01-14 10:00", field="SSR"),
    Stay(4, 4, "2027-01-10 10:00", "2027-01-19 10:00", field="PSY"),
], extraction_date="2027-02-15")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_warehouse(FIXTURE, tmp_path_factory.mktemp("dms_versions"))


def test_version_3_keeps_the_mco_field_only(warehouse) -> None:
    page = load_dictionary(WIKI).get("dms").definition
    default = compute(page, warehouse, start="2027-01", end="2027-01")
    assert default.version == "3"
    assert (default.frame["numerator"].iloc[0], default.frame["denominator"].iloc[0]) == (6, 2)
    assert default.frame["value"].iloc[0] == pytest.approx(3.0)
    mixed = compute(page, warehouse, start="2027-01", end="2027-01", version="2")
    assert (mixed.frame["numerator"].iloc[0], mixed.frame["denominator"].iloc[0]) == (35, 4)
    assert mixed.frame["value"].iloc[0] == pytest.approx(8.75)
