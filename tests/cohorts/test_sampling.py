"""Samples: the n smallest sha256("seed:person_id") keys, stratified by largest remainder, the same on DuckDB and Spark."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

import workbench
from workbench.cohorts.definition import parse_definition
from workbench.cohorts.evaluate import evaluate
from workbench.cohorts.sampling import sample
from workbench.errors import UserError

# every patient with a diagnosis in chapter I or C (persons 1, 2, 3, 4, 5, 6 of the fixture)
EVERYONE = parse_definition({"nom": "tous", "entree": {"type": "diagnostic", "codes": ["I", "C"]}})


def smallest_keys(person_ids: list[int], seed: int, n: int) -> list[int]:
    """The specification, written out: order by the first 8 bytes of sha256(f"{seed}:{person_id}")."""
    def key(pid: int) -> int:
        return int.from_bytes(hashlib.sha256(f"{seed}:{pid}".encode()).digest()[:8], "big")
    return sorted(sorted(person_ids, key=key)[:n])


def members(n: int) -> pd.DataFrame:
    """`n` synthetic members: hospital 014 for the first quarter, 028 for the rest; sex alternating."""
    return pd.DataFrame({"person_id": range(1, n + 1), "stay_id": range(1001, n + 1001),
                         "hospital": ["014" if i < n // 4 else "028" for i in range(n)],
                         "sex": ["F" if i % 2 else "M" for i in range(n)], "age_band": "45-64"})


def test_the_sample_is_the_smallest_keys_and_depends_on_the_seed() -> None:
    frame = members(40)
    drawn = sample(frame, 5, seed=7)
    assert sorted(drawn["person_id"]) == smallest_keys(list(range(1, 41)), 7, 5)
    assert sorted(sample(frame, 5, seed=7)["person_id"]) == sorted(drawn["person_id"])  # reproducible
    assert sorted(sample(frame, 5, seed=8)["person_id"]) != sorted(drawn["person_id"])
    assert len(sample(frame, 100, seed=7)) == 40  # a cohort smaller than n: everyone


def test_stratified_shares_follow_the_strata() -> None:
    frame = members(40)  # 10 in 014, 30 in 028
    drawn = sample(frame, 8, seed=1, strata=["hospital"])
    assert drawn["hospital"].value_counts().to_dict() == {"028": 6, "014": 2}
    in_014 = drawn.loc[drawn["hospital"] == "014", "person_id"].tolist()
    assert sorted(in_014) == smallest_keys(list(range(1, 11)), 1, 2)
    by_two = sample(frame, 7, seed=1, strata=["hospital", "sex"])  # 5+5 and 15+15: 7 × 1/8 = .875 and 7 × 3/8 = 2.625
    assert by_two.groupby(["hospital", "sex"]).size().to_dict() == {("014", "F"): 1, ("014", "M"): 1,
                                                                    ("028", "F"): 3, ("028", "M"): 2}


def test_bad_sample_requests() -> None:
    with pytest.raises(UserError, match="taille d'échantillon 0 invalide"):
        sample(members(4), 0, seed=1)
    with pytest.raises(UserError, match="--strates : couleur inconnue"):
        sample(members(4), 2, seed=1, strata=["couleur"])


# entry I21 as DP (persons 1, 2, 4, 6); troponin > 34 ng/L from the index date to the day after: persons 1 and 4
WINDOWED = parse_definition({"nom": "fenetre", "entree": {"type": "diagnostic", "codes": ["I21"], "statut": ["DP"]},
                             "inclusion": [{"nom": "troponine", "criteres": [
                                 {"type": "biologie", "codes": ["89579-7"], "comparaison": ">", "valeur": 34,
                                  "unite": "ng/L", "fenetre": {"jours_apres": 1}}, {"type": "age", "min": 18}]}]})


@pytest.mark.spark
def test_the_same_patients_on_duckdb_and_spark(spark, cohort_catalog: Path) -> None:
    drawn = {}
    for backend in ("duckdb", "pyspark"):
        with workbench.open(cohort_catalog, backend=backend) as warehouse:
            result = evaluate(warehouse, EVERYONE)
            assert sorted(result.members["person_id"]) == [1, 2, 3, 4, 5, 6]
            drawn[backend] = sorted(sample(result.members, 3, seed=2024)["person_id"])
            assert sorted(evaluate(warehouse, WINDOWED).members["person_id"]) == [1, 4], backend
    assert drawn["duckdb"] == drawn["pyspark"] == smallest_keys([1, 2, 3, 4, 5, 6], 2024, 3)
