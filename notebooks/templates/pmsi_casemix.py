# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: EDS Workbench
#     language: python
#     name: eds-workbench
# ---

# %% [markdown]
# # Activité PMSI MCO et case-mix
#
# Séjours MCO groupés (avec un GHM) sortis dans l'année : répartition par CMD, type de GHM et niveau de sévérité, diagnostics principaux les plus fréquents, distribution des durées de séjour, activité par hôpital et par mois.

# %% tags=["parameters"]
catalog: str = ""  # catalogue (vide : $WORKBENCH_CATALOG ou ./catalog.yaml)
wiki: str = ""  # dossier du wiki (vide : $WORKBENCH_WIKI, ./wiki, sinon celui du paquet installé)
hospital: str = ""  # code de l'hôpital (vide : tout l'AP-HP)
year: int = 0  # année de sortie des séjours (0 : dernière année complète avant l'extraction)
source: str = "AREM"  # source des diagnostics principaux (ORBIS ou AREM)
top_n: int = 15  # nombre de diagnostics principaux affichés

# %%
from pathlib import Path

import workbench
from workbench import analysis, paths
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute

analysis.enable_plots()
wh = workbench.open(catalog=catalog or None)
year = year or analysis.last_full_year(wh)
sejours = analysis.pmsi_stays(wh, year, hospital)
perimetre = f"hôpital {hospital}" if hospital else "AP-HP"
print(f"Périmètre : {perimetre}, séjours MCO sortis en {year} ; instantané {wh.snapshot_id}")

# %% [markdown]
# ## Volume de séjours groupés

# %%
total = int(wh.execute(sejours.count()))
analysis.record("total_sejours", total)

# %% [markdown]
# ## Case-mix : CMD, type de GHM et sévérité

# %%
case_mix = wh.execute(analysis.casemix(sejours))
analysis.record("case_mix", case_mix)
par_cmd = case_mix.groupby("cmd", as_index=False)["sejours"].sum().sort_values("cmd")
analysis.record("sejours_par_cmd", dict(zip(par_cmd["cmd"], par_cmd["sejours"])))
par_cmd.hvplot.bar(x="cmd", y="sejours", title="Séjours par CMD", xlabel="CMD", ylabel="Séjours", rot=90)

# %% [markdown]
# ### Le même chiffre que le tableau de bord : indicateur `case_mix` du dictionnaire

# %%
page = load_dictionary(paths.wiki_path(Path(wiki) if wiki else None)).get("case_mix")
filtres = {"hospital": [hospital]} if hospital else {}
indicateur = compute(page.definition, wh, by=("year",), start=f"{year}-01", end=f"{year}-12", filters=filtres,
                     params={"axis": "cmd"}).frame
analysis.record("case_mix_indicateur", indicateur)
indicateur[["cmd", "numerator", "denominator", "value"]].rename(
    columns={"numerator": "sejours", "denominator": "total", "value": "part (%)"})

# %%
par_type = case_mix.pivot_table(index="ghm_type", columns="ghm_severity", values="sejours", aggfunc="sum", fill_value=0)
par_type

# %%
case_mix.groupby(["ghm_type", "ghm_severity"], as_index=False)["sejours"].sum().sort_values(["ghm_type", "ghm_severity"]).hvplot.bar(
    x="ghm_type", y="sejours", by="ghm_severity", stacked=True,
    title="Séjours par type de GHM et niveau de sévérité", xlabel="Type de GHM", ylabel="Séjours",
)

# %% [markdown]
# ## Diagnostics principaux les plus fréquents

# %%
top_dp = analysis.with_cim10_labels(wh.execute(analysis.top_diagnoses(wh, sejours, status="DP", source=source, n=top_n)))
analysis.record("top_dp", top_dp)
top_dp

# %%
top_dp.hvplot.barh(x="code", y="sejours", hover_cols=["libelle"], title=f"{top_n} diagnostics principaux ({source})",
                   xlabel="CIM-10", ylabel="Séjours", flip_yaxis=True)

# %% [markdown]
# ## Durées de séjour

# %%
durees = analysis.los_distribution(wh, sejours)
analysis.record("durees", durees)
durees.hvplot.bar(x="classe", y="sejours", title="Distribution des durées de séjour (nuits)",
                  xlabel="Durée", ylabel="Séjours")

# %% [markdown]
# ## Activité par hôpital et par mois

# %%
mensuel = wh.execute(analysis.monthly_by_hospital(sejours))
analysis.record("sejours_par_hopital", mensuel.groupby("hopital")["sejours"].sum().to_dict())
mensuel.hvplot.line(x="mois", y="sejours", by="hopital", title="Séjours MCO groupés par mois de sortie",
                    xlabel="Mois de sortie", ylabel="Séjours", rot=45)

# %%
mensuel.pivot_table(index="hopital", columns="mois", values="sejours", fill_value=0)
