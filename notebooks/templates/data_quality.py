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
# # Qualité des données : complétude dans le temps
#
# Volumes mensuels des principales tables (séjours, mouvements, diagnostics, actes, biologie, médicaments, comptes rendus) par hôpital, complétude relative au mois le plus fourni (une marche signale un flux démarré tard ou interrompu), part des séjours reliés à un DP, un compte rendu, de la biologie, et taux de remplissage des colonnes.

# %% tags=["parameters"]
catalog: str = ""  # catalogue (vide : $WORKBENCH_CATALOG ou ./catalog.yaml)
hospital: str = ""  # code de l'hôpital (vide : tous les hôpitaux)
start: str = ""  # premier mois (AAAA-MM) ; vide : 24 mois avant la fin
end: str = ""  # dernier mois (AAAA-MM) ; vide : mois de l'extraction

# %%
import workbench
from workbench import analysis

analysis.enable_plots()
wh = workbench.open(catalog=catalog or None)
start, end = analysis.resolve_period(wh, start, end, months=24)
print(f"Instantané {wh.snapshot_id}, extraction du {wh.extraction_date} ; période {start} → {end}")

# %% [markdown]
# ## Volumes mensuels par table et par hôpital

# %%
volumes = analysis.monthly_volumes(wh, start, end, hospital)
sejours_mois = volumes[volumes["table"] == "stays"]
analysis.record("sejours_par_hopital_mois",
                {f"{h}|{m}": int(n) for h, m, n in sejours_mois[["hopital", "mois", "lignes"]].itertuples(index=False)})
analysis.record("lignes_par_table", volumes.groupby("table")["lignes"].sum().to_dict())
volumes.pivot_table(index=["table", "hopital"], columns="mois", values="lignes", fill_value=0).astype(int)

# %% [markdown]
# ## Complétude relative (volume du mois ÷ volume maximal)

# %%
completude = analysis.completeness_over_time(volumes)
completude["serie"] = completude["table"] + " · " + completude["hopital"]
completude.hvplot.heatmap(x="mois", y="serie", C="completude", cmap="RdYlGn", clim=(0, 1),
                          title="Complétude relative par table et hôpital", xlabel="Mois", ylabel="",
                          rot=45, height=600, width=900)

# %% [markdown]
# ## Ruptures de flux : mois sous la moitié du volume médian de l'hôpital (séjours)

# %%
ruptures = analysis.volume_breaks(volumes, "stays", ratio=0.5)
analysis.record("ruptures_sejours", ruptures)
ruptures

# %% [markdown]
# ## Séjours reliés aux autres tables

# %%
couverture = analysis.stay_coverage(wh, start, end, hospital)
analysis.record("couverture", couverture)
couverture.hvplot.line(x="mois", y=["part_avec_dp", "part_avec_compte_rendu", "part_avec_biologie"], by="hopital",
                       title="Part des séjours terminés avec DP, compte rendu, biologie (%)", xlabel="Mois de sortie",
                       ylabel="%", rot=45, subplots=False)

# %% [markdown]
# ## Remplissage des colonnes

# %%
import pandas as pd

remplissage = pd.concat([analysis.column_completeness(wh, vue) for vue in analysis.QUALITY_TABLES], ignore_index=True)
analysis.record("colonnes_peu_remplies", remplissage[remplissage["part_renseignee"] < 90])
remplissage
