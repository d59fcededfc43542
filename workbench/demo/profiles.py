"""Clinical profiles: what a stay is about, so that its codes, units, GHM and drugs agree.

A stay first draws a profile (among those allowed for its kind, sex and age),
then everything else follows from it: the DP from real codable CIM-10 codes under
the profile's prefixes, CCAM acts under its CCAM prefixes (filtered on the act's
sex compatibility), drugs under its ATC prefixes, the main unit role, the GHM
root and the typical length. Profiles are data, compiled once against the
vocabularies into flat pools (:class:`Pools`) that are drawn from per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.demo.caresites import ROLE
from workbench.demo.common import Pools

KINDS = ["hc", "hcu", "amb", "seance", "urg", "cons", "ssr", "psy"]
KIND = {kind: index for index, kind in enumerate(KINDS)}
#: (visit_source_value, stay_source_value) per kind ("hcu" = full stay admitted through the emergency unit).
KIND_VISIT = {
    "hc": ("hospitalisés", "MCO"),
    "hcu": ("hospitalisés", "MCO"),
    "amb": ("hospitalisation incomplète", "MCO"),
    "seance": ("hospitalisation incomplète", "MCO"),
    "urg": ("urgence", "MCO"),
    "cons": ("consultation externe", "MCO"),
    "ssr": ("hospitalisés", "SSR"),
    "psy": ("hospitalisés", "Psychiatrie"),
}
SEX_ANY, SEX_M, SEX_F = -1, 0, 1


@dataclass(frozen=True)
class Profile:
    name: str
    kinds: dict[str, float]  # kind -> weight
    dp: tuple[str, ...]
    role: str
    ghm: str = ""  # GHM root: CMD, type, number (5 characters); empty when not grouped
    nights: float = 0.0
    sex: int = SEX_ANY
    ages: tuple[int, int] = (0, 120)
    dr: tuple[str, ...] = ()
    das: tuple[str, ...] = ()
    ccam: tuple[str, ...] = ()
    ccam_mean: float = 0.0
    atc: tuple[str, ...] = ()
    critical: str = ""
    critical_p: float = 0.0
    surgical: bool = False
    series: tuple[int, int, int] = field(default=(0, 0, 0))  # séances: min count, max count, days between


PROFILES: list[Profile] = [
    # Full hospitalisation, programmed ("hc") or through the emergency unit ("hcu").
    Profile("insuffisance cardiaque", {"hc": 2, "hcu": 8}, ("I50",), "CARDIO", "05M09", 8, ages=(50, 120), das=("I48", "N18"), ccam=("DEQP003", "DZQM006"), ccam_mean=1.5, atc=("B01", "C09", "C02"), critical="USIC", critical_p=0.1),
    Profile("infarctus du myocarde", {"hcu": 5}, ("I21",), "CARDIO", "05K06", 5, ages=(35, 120), das=("I10", "E78"), ccam=("DDAF", "DDQH"), ccam_mean=1.5, atc=("B01",), critical="USIC", critical_p=0.7),
    Profile("accident vasculaire cérébral", {"hcu": 5}, ("I63",), "NEURO", "01M30", 9, ages=(40, 120), das=("I10", "I48"), ccam=("ACQK001", "ACQN001"), ccam_mean=1.2, atc=("B01",), critical="UNV", critical_p=0.6),
    Profile("sepsis", {"hcu": 4}, ("A41",), "MEDINT", "18M07", 11, das=("N17", "R57"), ccam=("GLLD", "GELD004"), ccam_mean=1.0, atc=("J01", "J02"), critical="REA", critical_p=0.5),
    Profile("pneumopathie", {"hcu": 8, "hc": 1}, ("J18", "J15", "J13"), "PNEUMO", "04M05", 7, das=("J96",), ccam=("ZBQK002", "ZBQH"), ccam_mean=1.2, atc=("J01",)),
    Profile("BPCO en exacerbation", {"hcu": 4}, ("J44",), "PNEUMO", "04M08", 7, ages=(40, 120), das=("F17", "J96"), ccam=("ZBQK002", "GEQE"), ccam_mean=1.0, atc=("J01", "H02", "R03")),
    Profile("bronchiolite", {"hcu": 4}, ("J21",), "PEDIA", "04M18", 3, ages=(0, 2), ccam=("ZBQK002",), ccam_mean=0.5),
    Profile("gastroentérite de l'enfant", {"hcu": 3}, ("A08", "A09"), "PEDIA", "06M11", 2, ages=(0, 15)),
    Profile("fracture du col du fémur", {"hcu": 5}, ("S720", "S721"), "ORTHO", "08C47", 9, ages=(60, 120), das=("R26",), ccam=("NEKA", "NBCA"), ccam_mean=1.5, atc=("B01", "N01"), surgical=True),
    Profile("traumatisme crânien", {"hcu": 3}, ("S06",), "MEDINT", "01M21", 2, ccam=("ACQK001",), ccam_mean=1.0),
    Profile("appendicite", {"hcu": 4}, ("K35",), "CHIR", "06C09", 3, ages=(5, 80), ccam=("HHFA016", "HHFA011"), ccam_mean=1.0, atc=("J01", "N01"), surgical=True),
    Profile("infection urinaire du sujet âgé", {"hcu": 4, "hc": 1}, ("N39", "N10"), "GERIA", "11M04", 8, ages=(70, 120), das=("F03", "R26"), atc=("J01",)),
    Profile("chutes et altération de l'état général", {"hcu": 3, "hc": 2}, ("R54", "R296"), "GERIA", "23M03", 10, ages=(75, 120), das=("F03", "E86")),
    Profile("prothèse de hanche", {"hc": 5}, ("M16",), "ORTHO", "08C48", 6, ages=(50, 120), ccam=("NEKA",), ccam_mean=1.2, atc=("B01", "N01"), surgical=True),
    Profile("cholécystectomie", {"hc": 4}, ("K80", "K81"), "CHIR", "07C14", 3, ages=(18, 100), ccam=("HMFC004",), ccam_mean=1.0, atc=("N01",), surgical=True),
    Profile("cancer du côlon (chirurgie)", {"hc": 3}, ("C18",), "CHIR", "06C04", 10, ages=(40, 120), ccam=("HHFA",), ccam_mean=1.2, atc=("N01", "B01"), critical="SC", critical_p=0.2, surgical=True),
    Profile("cancer du sein (chirurgie)", {"hc": 3}, ("C50",), "CHIR", "09C05", 3, sex=SEX_F, ages=(30, 110), ccam=("QEFA",), ccam_mean=1.0, atc=("N01",), surgical=True),
    Profile("cancer du poumon", {"hc": 3}, ("C34",), "ONCO", "04M09", 7, ages=(40, 120), das=("F17",), ccam=("GEQE", "ZBQH"), ccam_mean=1.0, atc=("L01", "H02")),
    Profile("accouchement", {"hc": 10}, ("O80", "O82", "O70", "O42"), "OBST", "14Z14", 4, sex=SEX_F, ages=(15, 49), ccam=("JQGD", "JQGA"), ccam_mean=1.0, atc=("N01",)),
    Profile("diabète déséquilibré", {"hc": 3}, ("E11", "E10"), "MEDINT", "10M02", 5, ages=(18, 120), das=("I10", "E66"), atc=("A10",)),
    Profile("sevrage alcoolique", {"hc": 2}, ("F10",), "MEDINT", "20Z04", 6, ages=(18, 90), das=("K70",), atc=("N05",)),
    # Ambulatory stays (0 night).
    Profile("cataracte", {"amb": 5}, ("H25", "H26"), "AMBU", "02C05", ages=(50, 120), ccam=("BFGA",), ccam_mean=1.0, surgical=True),
    Profile("coloscopie", {"amb": 5}, ("K63", "D12", "K57"), "HDJ", "06K04", ages=(40, 120), ccam=("HHQE", "HHFE"), ccam_mean=1.0),
    Profile("hernie inguinale", {"amb": 3}, ("K40",), "AMBU", "06C12", ages=(18, 100), ccam=("LMMA",), ccam_mean=1.0, surgical=True),
    Profile("arthroscopie du genou", {"amb": 2}, ("M23",), "AMBU", "08C44", ages=(15, 80), ccam=("NFFC",), ccam_mean=1.0, surgical=True),
    Profile("bilan de diabète en hôpital de jour", {"amb": 3}, ("E11",), "HDJ", "10M02", ages=(18, 120), das=("I10",)),
    Profile("interruption volontaire de grossesse", {"amb": 1}, ("O04",), "OBST", "14Z08", sex=SEX_F, ages=(15, 49)),
    # Séances (CMD 28), repeated in series.
    Profile("chimiothérapie (sein)", {"seance": 3}, ("Z511",), "CHIMIO", "28Z07", sex=SEX_F, ages=(30, 110), dr=("C50",), atc=("L01",), series=(4, 12, 21)),
    Profile("chimiothérapie (côlon)", {"seance": 2}, ("Z511",), "CHIMIO", "28Z07", ages=(40, 120), dr=("C18",), atc=("L01",), series=(4, 12, 14)),
    Profile("chimiothérapie (poumon)", {"seance": 2}, ("Z511",), "CHIMIO", "28Z07", ages=(40, 120), dr=("C34",), atc=("L01",), series=(4, 8, 21)),
    Profile("hémodialyse", {"seance": 2}, ("Z491",), "DIALYSE", "28Z04", ages=(18, 120), dr=("N18",), ccam=("JVJF",), ccam_mean=1.0, series=(8, 24, 2)),
    # Emergency visits (DP only, no GHM).
    Profile("douleur thoracique", {"urg": 4}, ("R07",), "URG", ages=(15, 120), ccam=("DEQP003",), ccam_mean=0.8),
    Profile("douleur abdominale", {"urg": 4}, ("R10",), "URG", ccam=("ZCQM",), ccam_mean=0.3),
    Profile("traumatisme d'un membre", {"urg": 5}, ("S52", "S62", "S93", "S82"), "URG", ccam=("MAQK", "NDQK"), ccam_mean=0.8),
    Profile("plaie de la tête", {"urg": 2}, ("S01",), "URG"),
    Profile("fièvre", {"urg": 3}, ("R50",), "URG"),
    Profile("infection des voies aériennes", {"urg": 3}, ("J06",), "URG"),
    Profile("malaise", {"urg": 2}, ("R55",), "URG", ages=(15, 120), ccam=("DEQP003",), ccam_mean=0.8),
    # External consultations (no PMSI coding; the profile only names the reason in the report).
    Profile("consultation de médecine", {"cons": 6}, ("I10", "E11", "I50", "J44"), "CONS", ages=(18, 120)),
    Profile("consultation de chirurgie", {"cons": 4}, ("M17", "M16", "K40", "K80"), "CONS_CHIR", ages=(15, 120)),
    Profile("consultation de pédiatrie", {"cons": 3}, ("J45", "R62"), "CONS", ages=(0, 17)),
    # SSR and psychiatry.
    Profile("rééducation après fracture", {"ssr": 3}, ("S72",), "SSR", "", 25, ages=(50, 120)),
    Profile("rééducation neurologique", {"ssr": 2}, ("G81", "I69"), "SSR", "", 30, ages=(30, 120)),
    Profile("soins de suite polyvalents", {"ssr": 3}, ("R26", "R53"), "SSR", "", 20),
    Profile("épisode dépressif", {"psy": 4}, ("F32", "F33"), "PSY", "", 20, ages=(15, 120)),
    Profile("schizophrénie", {"psy": 3}, ("F20",), "PSY", "", 30, ages=(16, 90)),
    Profile("trouble de l'adaptation", {"psy": 2}, ("F43",), "PSY", "", 10),
]

#: Comorbidities coded as DAS for adults (none is sex-specific).
COMORBIDITIES = ("I10", "E119", "E785", "E669", "I48", "N18", "F171", "Z955", "I251", "E039", "K21", "D649", "G473")
COMORBIDITY_MIN_AGE = 30


def _under(codes: pd.Series, prefixes: tuple[str, ...]) -> np.ndarray:
    """Positions of codes starting with one of the prefixes."""
    if not prefixes:
        return np.array([], dtype=np.int64)
    return np.flatnonzero(codes.str.startswith(prefixes).to_numpy())


@dataclass(frozen=True)
class Compiled:
    """Profiles as arrays, with their code pools drawn from the vocabularies."""

    profiles: list[Profile]
    weights: np.ndarray  # (kind, profile)
    sex: np.ndarray
    age_min: np.ndarray
    age_max: np.ndarray
    role: np.ndarray
    critical: np.ndarray  # role index, -1 none
    critical_p: np.ndarray
    nights: np.ndarray
    ccam_mean: np.ndarray
    surgical: np.ndarray
    series: np.ndarray  # (profile, 3)
    ghm_root: np.ndarray  # object array of str ("" when not grouped)
    cim10_codes: np.ndarray
    cim10_labels: np.ndarray
    cim10_tumour: np.ndarray  # bool per code: C00–D48
    dp: Pools
    dr: Pools
    das: Pools  # profile-specific DAS
    comorbidity: Pools  # one group
    ccam_codes: np.ndarray
    ccam_labels: np.ndarray
    ccam: Pools  # group = profile * 2 + sex
    ucd: pd.DataFrame
    drugs: Pools  # group = profile


def compile_profiles(cim10: pd.DataFrame, ccam: pd.DataFrame, ucd: pd.DataFrame) -> Compiled:
    """Bind the profiles to the vocabularies (codable CIM-10, CCAM, UCD with ATC)."""
    codes = cim10["code"]
    ccam_codes = ccam["code"]
    ccam_by_sex = [ccam["sex"].isin(["0", "1"]).to_numpy(), ccam["sex"].isin(["0", "2"]).to_numpy()]
    with_atc = ucd[ucd["atc"] != ""].reset_index(drop=True)
    general_drugs = _under(with_atc["atc"], ("B01", "H02", "J01"))
    ccam_groups = []
    for profile in PROFILES:
        acts = _under(ccam_codes, profile.ccam)
        ccam_groups += [acts[ccam_by_sex[0][acts]], acts[ccam_by_sex[1][acts]]]
    drugs = [_under(with_atc["atc"], profile.atc) if profile.atc else general_drugs for profile in PROFILES]
    weights = np.zeros((len(KINDS), len(PROFILES)))
    for p, profile in enumerate(PROFILES):
        for kind, weight in profile.kinds.items():
            weights[KIND[kind], p] = weight
    return Compiled(
        profiles=PROFILES,
        weights=weights,
        sex=np.array([p.sex for p in PROFILES]),
        age_min=np.array([p.ages[0] for p in PROFILES], dtype=float),
        age_max=np.array([p.ages[1] for p in PROFILES], dtype=float),
        role=np.array([ROLE[p.role] for p in PROFILES]),
        critical=np.array([ROLE[p.critical] if p.critical else -1 for p in PROFILES]),
        critical_p=np.array([p.critical_p for p in PROFILES]),
        nights=np.array([p.nights for p in PROFILES]),
        ccam_mean=np.array([p.ccam_mean for p in PROFILES]),
        surgical=np.array([p.surgical for p in PROFILES]),
        series=np.array([p.series for p in PROFILES]),
        ghm_root=np.array([p.ghm for p in PROFILES], dtype=object),
        cim10_codes=codes.to_numpy(dtype=object),
        cim10_labels=cim10["label"].to_numpy(dtype=object),
        cim10_tumour=codes.str[:3].between("C00", "D48").to_numpy(),
        dp=Pools.build([_under(codes, p.dp) for p in PROFILES]),
        dr=Pools.build([_under(codes, p.dr) for p in PROFILES]),
        das=Pools.build([_under(codes, p.das) for p in PROFILES]),
        comorbidity=Pools.build([_under(codes, COMORBIDITIES)]),
        ccam_codes=ccam_codes.to_numpy(dtype=object),
        ccam_labels=ccam["label"].to_numpy(dtype=object),
        ccam=Pools.build(ccam_groups),
        ucd=with_atc,
        drugs=Pools.build(drugs),
    )
