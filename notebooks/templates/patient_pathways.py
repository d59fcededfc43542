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
# # Parcours des patients : séjours et mouvements
#
# Parcours des séjours d'hospitalisation complète à travers les unités (enchaînement des services ou des UF), nombre de transferts entre unités, et entrées par les urgences (passages aux urgences et hospitalisations qui les suivent) par mois.

# %% tags=["parameters"]
catalog: str = ""  # catalogue (vide : $WORKBENCH_CATALOG ou ./catalog.yaml)
hospital: str = ""  # code de l'hôpital (vide : tout l'AP-HP)
start: str = ""  # premier mois de sortie (AAAA-MM) ; vide : 12 mois avant la fin
end: str = ""  # dernier mois de sortie (AAAA-MM) ; vide : mois de l'extraction
level: str = "service"  # niveau des étapes du parcours : pole, service ou uf
top_n: int = 10  # nombre de parcours affichés

# %%
import workbench
from workbench import analysis

analysis.enable_plots()
wh = workbench.open(catalog=catalog or None)
start, end = analysis.resolve_period(wh, start, end)
sejours = analysis.full_hospital_stays(wh, start, end, hospital)
parcours = analysis.unit_pathways(wh, sejours, level=level)
perimetre = f"hôpital {hospital}" if hospital else "AP-HP"
print(f"Périmètre : {perimetre}, hospitalisations complètes sorties de {start} à {end}")

# %% [markdown]
# ## Parcours les plus fréquents

# %%
n_parcours = int(wh.execute(parcours.count()))
analysis.record("sejours_avec_mouvements", n_parcours)
principaux = wh.execute(analysis.top_pathways(parcours, top_n))
analysis.record("parcours_frequents", principaux)
principaux.assign(libelles=analysis.spell_pathways(principaux, analysis.care_site_names(wh)))

# %% [markdown]
# ## Transferts entre unités

# %%
transferts = wh.execute(analysis.transfers_distribution(parcours))
analysis.record("transferts", transferts)
transferts.astype({"transferts": str}).hvplot.bar(x="transferts", y="sejours", title=f"Séjours selon le nombre de transferts ({level})",
                      xlabel="Transferts", ylabel="Séjours")

# %% [markdown]
# ## Des urgences à l'hospitalisation

# %%
urgences = wh.execute(analysis.emergency_admissions(wh, start, end, hospital))
analysis.record("urgences", urgences)
urgences

# %%
(
    urgences.hvplot.bar(x="mois", y="passages_urgences", title="Passages aux urgences et entrées par les urgences",
                        xlabel="Mois", ylabel="Nombre", rot=45, alpha=0.5, label="Passages aux urgences")
    * urgences.hvplot.line(x="mois", y="entrees_par_urgences", label="Hospitalisations entrées par les urgences")
)
