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
# # Exhaustivité du codage PMSI : ORBIS et AREM
#
# Part des séjours MCO terminés qui ont un diagnostic principal (DP) à M+1, M+2 et M+3 après le mois de sortie, selon la source : ORBIS (codage au fil de l'eau) ou AREM (PMSI validé par le DIM, disponible avec un à deux mois de retard). L'écart entre les deux sources mesure le retard de codage ; les horizons postérieurs à la date d'extraction restent vides.

# %% tags=["parameters"]
catalog: str = ""  # catalogue (vide : $WORKBENCH_CATALOG ou ./catalog.yaml)
hospital: str = ""  # code de l'hôpital (vide : tout l'AP-HP)
start: str = "2025-01"  # premier mois de sortie (AAAA-MM)
end: str = "2025-12"  # dernier mois de sortie (AAAA-MM)

# %%
import hvplot.pandas  # noqa: F401 - registers .hvplot on DataFrames

import workbench
from workbench import analysis

wh = workbench.open(catalog=catalog or None)
perimetre = f"hôpital {hospital}" if hospital else "AP-HP"
print(f"Périmètre : {perimetre}, séjours MCO sortis de {start} à {end} ; extraction du {wh.extraction_date}")

# %% [markdown]
# ## Séjours codés à M+1, M+2, M+3 par source

# %%
retard = analysis.coding_lag(wh, start, end, hospital)
analysis.record("exhaustivite", retard)
retard

# %% [markdown]
# ## Évolution par mois de sortie

# %%
long = retard.melt(id_vars=["mois", "source"], value_vars=["part_m1", "part_m2", "part_m3"],
                   var_name="horizon", value_name="part")
long["horizon"] = long["horizon"].str.replace("part_m", "M+", regex=False)
long.hvplot.line(x="mois", y="part", by=["source", "horizon"], title="Part des séjours avec un DP (%)",
                 xlabel="Mois de sortie", ylabel="% de séjours codés", rot=45, ylim=(0, 105))

# %% [markdown]
# ## Écart ORBIS − AREM à M+1

# %%
ecart = retard.pivot_table(index="mois", columns="source", values="part_m1")
if {"ORBIS", "AREM"} <= set(ecart.columns):
    ecart["écart"] = ecart["ORBIS"] - ecart["AREM"]
ecart
