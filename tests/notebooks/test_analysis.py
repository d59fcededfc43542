"""The helpers behind the templates, on a few hand-written rows whose expected results are derived by hand.

The warehouse is the semantic layer's AP-HP fixture plus one stay (301) that
moves UF 1001 (service S01) → UF 1002 (S01) → UF 3001 (S02) → UF 1001 (S01),
so repeats within a service collapse and a return to a service counts.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

import workbench
from workbench import analysis
from workbench.catalog import write_catalog
from workbench.errors import UserError
from workbench.notebooks import parse_parameters

from semantic.fixtures import APHP_ROWS, D, _cs, _detail, _link, _visit, write_aphp  # noqa: E402


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = copy.deepcopy(APHP_ROWS)
    rows["care_site"] += [_cs(2000, "S02", "Service/Département"), _cs(30000, "3001", "UF")]
    rows["fact_relationship"] += [_link(2000, 100), _link(30000, 2000)]
    rows["visit_occurrence"].append(_visit(301, 4, 10, D(2020, 11, 2, 8), D(2020, 11, 9, 12), "hospitalisés"))
    rows["visit_detail"] += [
        _detail(31, 301, 10000, D(2020, 11, 2, 8), "PASS UF"),
        _detail(32, 301, 10001, D(2020, 11, 3, 8), "PASS UF"),
        _detail(33, 301, 30000, D(2020, 11, 5, 8), "PASS UF"),
        _detail(34, 301, 10000, D(2020, 11, 7, 8), "PASS UF"),
    ]
    folder = tmp_path_factory.mktemp("analysis")
    write_aphp(folder / "eds.duckdb", rows)
    write_catalog(folder / "eds.duckdb", "aphp", folder / "catalog.yaml")
    return folder / "catalog.yaml"


@pytest.fixture(scope="module")
def wh(catalog: Path):
    with workbench.open(catalog) as warehouse:
        yield warehouse


def test_period_defaults_follow_the_extraction_date(wh):
    # _metadata.extraction_date = 2020-12-31
    assert analysis.resolve_period(wh) == ("2020-01", "2020-12")
    assert analysis.resolve_period(wh, months=24) == ("2019-01", "2020-12")
    assert analysis.resolve_period(wh, start="2020-06") == ("2020-06", "2020-12")
    assert analysis.last_full_year(wh) == 2019


def test_pathways_collapse_repeats_within_a_unit(wh):
    selected = analysis.stays(wh, "2020-01", "2020-12")
    by_service = wh.execute(analysis.unit_pathways(wh, selected, level="service")).set_index("stay_id")
    # 101: UF 1001 then 1002, both in S01 (the UH movement and the deleted one are ignored); 111: UF 1001
    assert by_service.loc[301, "parcours"] == "S01 → S02 → S01" and by_service.loc[301, "etapes"] == 3
    assert by_service.loc[101, "parcours"] == "S01" and by_service.loc[101, "etapes"] == 1
    assert by_service.loc[111, "parcours"] == "S01"
    assert set(by_service.index) == {101, 111, 301}  # 103 has a RUM only, not a UF movement
    by_uf = wh.execute(analysis.unit_pathways(wh, selected, level="uf")).set_index("stay_id")
    assert by_uf.loc[301, "parcours"] == "1001 → 1002 → 3001 → 1001"
    assert by_uf.loc[101, "parcours"] == "1001 → 1002"
    transfers = wh.execute(analysis.transfers_distribution(analysis.unit_pathways(wh, selected, level="service")))
    assert dict(zip(transfers["transferts"], transfers["sejours"])) == {0: 2, 2: 1}
    top = wh.execute(analysis.top_pathways(analysis.unit_pathways(wh, selected, level="service")))
    assert list(zip(top["parcours"], top["sejours"])) == [("S01", 2), ("S01 → S02 → S01", 1)]


@pytest.mark.spark
def test_pathways_and_cohort_on_spark_match_duckdb(wh, catalog: Path):
    """The helpers are ibis expressions: the same ones run on Spark (ordered aggregation avoided)."""
    with workbench.open(catalog, backend="pyspark") as spark:
        for warehouse in (wh, spark):
            selected = analysis.stays(warehouse, "2020-01", "2020-12")
            frame = warehouse.execute(analysis.unit_pathways(warehouse, selected, level="uf"))
            found = dict(zip(frame["stay_id"], frame["parcours"]))
            assert found == {101: "1001 → 1002", 111: "1001", 301: "1001 → 1002 → 3001 → 1001"}, warehouse.backend_name
            cohort = warehouse.execute(analysis.cohort_stays(warehouse, "2020-01", "2020-12", cim10=["E11"]))
            assert list(cohort["stay_id"]) == [101]


def test_spelled_pathways_use_unit_names(wh):
    frame = pd.DataFrame({"parcours": ["S01 → S02", "S01 → ZZZ"]})
    assert list(analysis.spell_pathways(frame, analysis.care_site_names(wh))) == [
        "Structure S01 → Structure S02", "Structure S01 → ZZZ",
    ]


def test_cohort_matches_cim10_prefixes_whatever_their_case(wh):
    # E112 is coded on stay 101 (person 1); the deleted K35 on 102 must not match
    found = wh.execute(analysis.cohort_stays(wh, "2020-01", "2020-12", cim10=["e11"]))
    assert list(found["stay_id"]) == [101]
    assert wh.execute(analysis.cohort_stays(wh, "2020-01", "2020-12", cim10=["K35"])).empty
    at_site = wh.execute(analysis.cohort_stays(wh, "2020-01", "2020-12", care_site="028"))
    assert sorted(at_site["stay_id"]) == [103, 104]


def test_length_of_stay_classes(wh):
    # MCO stays ended in 2020 with a GHM: 101 (5 nights), 102 (4), 103 (0, séance), 104 (0)
    table = analysis.pmsi_stays(wh, 2020)
    assert sorted(wh.execute(table)["stay_id"]) == [101, 102, 103, 104]
    classes = analysis.los_distribution(wh, table).set_index("classe")["sejours"].to_dict()
    assert classes == {"0 nuit": 2, "1 nuit": 0, "2-3 nuits": 0, "4-7 nuits": 2, "8-14 nuits": 0,
                       "15-30 nuits": 0, "> 30 nuits": 0}


def test_volume_breaks_against_the_median_month():
    volumes = pd.DataFrame({
        "table": ["stays"] * 5 + ["stays"] * 2,
        "hopital": ["A"] * 5 + ["B"] * 2,
        "mois": ["2020-01", "2020-02", "2020-03", "2020-04", "2020-05", "2020-01", "2020-05"],
        "lignes": [10, 12, 11, 4, 10, 6, 6],
    })
    breaks = analysis.volume_breaks(volumes, "stays", ratio=0.5)
    # A: median 10, April (4) < 5; B: months 02-04 missing → 0 rows, median over 5 months = 0 → nothing below 0
    assert breaks.to_dict("records") == [{"hopital": "A", "mois": "2020-04", "lignes": 4, "reference": 10.0}]
    completeness = analysis.completeness_over_time(volumes).set_index(["hopital", "mois"])["completude"]
    assert completeness[("A", "2020-02")] == 1.0 and completeness[("B", "2020-03")] == 0.0


def test_coding_at_horizons_reads_the_months_that_far_from_extraction():
    lag = pd.DataFrame({
        "mois": ["2020-10", "2020-11", "2020-12"] * 2,
        "source": ["ORBIS"] * 3 + ["AREM"] * 3,
        "recul": [2, 1, 0] * 2,
        "value": [100.0, 98.0, 90.0, 97.0, 40.0, 0.0],
    })
    horizons = analysis.coding_at_horizons(lag, (1, 2, 3)).set_index("horizon")
    assert horizons.loc["M+1", ["mois", "ORBIS", "AREM", "ecart"]].tolist() == ["2020-11", 98.0, 40.0, 58.0]
    assert horizons.loc["M+2", "ecart"] == 3.0
    assert pd.isna(horizons.loc["M+3", "ORBIS"]) and pd.isna(horizons.loc["M+3", "mois"])
    assert analysis.months_between("2019-11", "2020-02") == 3


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("year: int = 2020 + 1\n", "n'est pas une constante"),
        ("seuils: dict = {}\n", "type 'dict'"),
        ("print('x')\n", "seules des affectations"),
        ("year: int = 'deux'\n", "attend un entier"),
    ],
)
def test_parameters_cell_refuses_what_it_cannot_show(source: str, message: str):
    with pytest.raises(UserError, match=message):
        parse_parameters(source, "modele.py")


def test_parameters_cell_reads_types_defaults_and_help():
    parameters = parse_parameters('a: float = 1  # seuil\nb = ["x"]\nc: bool = False\n', "modele.py")
    assert [(p.name, p.type, p.default, p.help) for p in parameters] == [
        ("a", "float", 1.0, "seuil"), ("b", "list[str]", ["x"], ""), ("c", "bool", False, ""),
    ]
    assert isinstance(parameters[0].default, float)
    assert dt.date(2020, 1, 1) == analysis.month_start("2020-01")
    assert analysis.month_after("2020-12") == dt.date(2021, 1, 1)


def test_record_publishes_json_under_the_workbench_mime(tmp_path: Path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from workbench.records import RECORD_MIME, read_records

    frame = pd.DataFrame({"code": ["A", None], "n": [1, 2]})
    notebook = new_notebook(cells=[new_code_cell(outputs=[new_output(
        "display_data", data={RECORD_MIME: {"name": "t", "value": analysis._plain(frame)}, "text/plain": "t"}
    )])])
    nbformat.write(notebook, tmp_path / "n.ipynb")
    assert read_records(tmp_path / "n.ipynb") == {"t": [{"code": "A", "n": 1}, {"code": None, "n": 2}]}
