"""Case-mix on a hand-made warehouse (period 2024-01 … 2024-02).

| stay | GHM     | CMD | type | severity | hôpital | month | counted?           |
|------|---------|-----|------|----------|---------|-------|--------------------|
| 1    | 05M091  | 05  | M    | 1        | 014     | 01    | yes                |
| 2    | 05C10J  | 05  | C    | J        | 014     | 01    | yes (ambulatory)   |
| 3    | 28Z07Z  | 28  | Z    | Z        | 014     | 01    | yes (séance)       |
| 4    | 06C041  | 06  | C    | 1        | 028     | 02    | yes                |
| 5    | 05M092  | 05  | M    | 2        | 028     | 02    | yes                |
| 6    | –       |     |      |          | 014     | 01    | no GHM             |
| 7    | 05M091  | 05  | M    | 1        | 014     | 01    | SSR: not MCO       |
| 9    | 06M041  | 06  | M    | 1        | 014     | 01    | soft-deleted       |
| 10   | 08K02J  | 08  | K    | J        | 014     | 02    | yes (ambulatory)   |
"""

from __future__ import annotations

import pytest

from workbench.errors import UserError
from workbench.indicators.engine import compute

from .fixtures import Fixture, Stay, build_warehouse, cells, definition

AMBULATORY = "hospitalisation incomplète"
FIXTURE = Fixture(stays=[
    Stay(1, 1, "2024-01-10 09:00", "2024-01-12 10:00", ghm="05M091"),
    Stay(2, 2, "2024-01-15 09:00", "2024-01-15 17:00", ghm="05C10J", visit=AMBULATORY),
    Stay(3, 3, "2024-01-16 09:00", "2024-01-16 12:00", ghm="28Z07Z", visit=AMBULATORY),
    Stay(4, 4, "2024-02-01 09:00", "2024-02-04 10:00", ghm="06C041", uf="2801"),
    Stay(5, 5, "2024-02-05 09:00", "2024-02-09 10:00", ghm="05M092", uf="2801"),
    Stay(6, 6, "2024-01-20 09:00", "2024-01-22 10:00"),
    Stay(7, 7, "2024-01-20 09:00", "2024-01-25 10:00", ghm="05M091", field="SSR"),
    Stay(9, 9, "2024-01-21 09:00", "2024-01-23 10:00", ghm="06M041", status="supprimé"),
    Stay(10, 10, "2024-02-10 09:00", "2024-02-10 16:00", ghm="08K02J", visit=AMBULATORY),
])


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_warehouse(FIXTURE, tmp_path_factory.mktemp("case_mix"))


def shares(result, *keys):
    return {k: (row["numerator"], row["denominator"]) for k, row in cells(result, *keys).items()}


def test_share_of_stays_per_cmd(warehouse):
    result = compute(definition("case_mix"), warehouse, start="2024-01", end="2024-02")
    assert shares(result, "cmd") == {"05": (3, 6), "06": (1, 6), "08": (1, 6), "28": (1, 6)}
    assert cells(result, "cmd")["05"]["value"] == pytest.approx(50.0)
    assert result.frame["value"].sum() == pytest.approx(100.0)


def test_shares_are_within_each_cell_of_the_breakdown(warehouse):
    result = compute(definition("case_mix"), warehouse, by=["hospital"], start="2024-01", end="2024-02")
    assert shares(result, "hospital", "cmd") == {
        ("014", "05"): (2, 4), ("014", "08"): (1, 4), ("014", "28"): (1, 4),
        ("028", "05"): (1, 2), ("028", "06"): (1, 2),
    }


def test_other_axes(warehouse):
    by_type = compute(definition("case_mix"), warehouse, start="2024-01", end="2024-02", params={"axis": "ghm_type"})
    assert shares(by_type, "ghm_type") == {"C": (2, 6), "K": (1, 6), "M": (2, 6), "Z": (1, 6)}
    by_severity = compute(definition("case_mix"), warehouse, start="2024-01", end="2024-02",
                          params={"axis": "ghm_severity"})
    assert shares(by_severity, "ghm_severity") == {"1": (2, 6), "2": (1, 6), "J": (2, 6), "Z": (1, 6)}


def test_unknown_axis_or_parameter_is_refused(warehouse):
    with pytest.raises(UserError, match="axis doit valoir"):
        compute(definition("case_mix"), warehouse, params={"axis": "ghm"})
    with pytest.raises(UserError, match="paramètre inconnu 'colour'"):
        compute(definition("case_mix"), warehouse, params={"colour": "red"})


def test_taux_ambulatoire_share_of_zero_night_surgery(warehouse):
    # surgical GHM (C/K, CMD ≠ 28): 2 (J), 4 (severity 1), 10 (J); stay 7 is medical
    result = compute(definition("taux_ambulatoire"), warehouse, start="2024-01", end="2024-02")
    row = result.frame.iloc[0]
    assert (row["numerator"], row["denominator"]) == (2, 3)
    assert row["value"] == pytest.approx(100 * 2 / 3)
    by_hospital = compute(definition("taux_ambulatoire"), warehouse, by=["hospital"], start="2024-01", end="2024-02")
    assert shares(by_hospital, "hospital") == {"014": (2, 2), "028": (0, 1)}
