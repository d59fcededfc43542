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
# # Profil d'une cohorte
#
# Patients ayant un séjour dans la période qui répond aux critères (tranche d'âge, sexe, structure, préfixes CIM-10) : pyramide des âges, sexe, types de visite, diagnostics les plus fréquents et distribution des principaux résultats de biologie. Sur un espace projet (`--projet`), ou avec une cohorte enregistrée (`cohorte`), seuls ses membres sont comptés.

# %% tags=["parameters"]
catalog: str = ""  # catalogue (vide : $WORKBENCH_CATALOG ou ./catalog.yaml)
start: str = ""  # premier mois d'entrée (AAAA-MM) ; vide : 12 mois avant la fin
end: str = ""  # dernier mois d'entrée (AAAA-MM) ; vide : mois de l'extraction
age_bands: list[str] = []  # tranches d'âge (vide : toutes), ex. 65-74,75-84
sex: str = ""  # M, F ou vide
care_site: str = ""  # code d'une structure à tout niveau (vide : AP-HP)
cim10: list[str] = ["E11"]  # préfixes CIM-10 (un diagnostic du séjour commence par l'un d'eux ; vide : tous)
top_n: int = 10  # nombre de diagnostics et d'analyses affichés
cohorte: str = ""  # cohorte enregistrée (NOM ou NOM@VERSION) dont on profile les membres ; vide : tous les patients

# %%
import workbench
from workbench import analysis, projects

analysis.enable_plots()
wh = workbench.open(catalog=catalog or None)
start, end = analysis.resolve_period(wh, start, end)
sejours = analysis.cohort_stays(wh, start, end, age_bands=age_bands, sex=sex, care_site=care_site, cim10=cim10)
membres = projects.member_ids(wh, cohorte)  # un espace projet : ses membres ; une cohorte : évaluée ici
if membres is not None:
    sejours = sejours.filter(sejours.person_id.isin(membres))
criteres = {"période": f"{start} → {end}", "tranches d'âge": age_bands or "toutes", "sexe": sex or "tous",
            "structure": care_site or "AP-HP", "CIM-10": cim10 or "tous",
            "cohorte": cohorte or ("membres de l'espace projet" if membres is not None else "aucune")}
criteres

# %% [markdown]
# ## Effectifs

# %%
effectifs = wh.execute(sejours.aggregate(patients=sejours.person_id.nunique(), sejours=sejours.count())).iloc[0]
analysis.record("patients", int(effectifs["patients"]))
analysis.record("sejours", int(effectifs["sejours"]))

# %% [markdown]
# ## Pyramide des âges

# %%
pyramide = analysis.age_pyramid(wh, sejours)
analysis.record("pyramide", pyramide)
pyramide.hvplot.barh(x="classe", y="effectif", by="sexe", stacked=True, title="Pyramide des âges (âge au premier séjour)",
                     xlabel="Âge", ylabel="Patients (hommes à gauche)")

# %% [markdown]
# ## Sexe et types de visite

# %%
patients = sejours.select("person_id", "sex").distinct()
sexes = wh.execute(analysis.count_by(patients, ["sex"], "patients"))
analysis.record("sexes", dict(zip(sexes["sex"], sexes["patients"])))
sexes.hvplot.bar(x="sex", y="patients", title="Patients par sexe", xlabel="Sexe", ylabel="Patients")

# %%
visites = wh.execute(analysis.count_by(sejours, ["visit_type"], "sejours"))
analysis.record("types_de_visite", dict(zip(visites["visit_type"], visites["sejours"])))
visites.hvplot.barh(x="visit_type", y="sejours", title="Séjours par type de visite", xlabel="Type", ylabel="Séjours")

# %% [markdown]
# ## Diagnostics les plus fréquents

# %%
diagnostics = analysis.with_cim10_labels(wh.execute(analysis.top_diagnoses(wh, sejours, status=None, n=top_n)))
analysis.record("top_diagnostics", diagnostics)
diagnostics.hvplot.barh(x="code", y="sejours", hover_cols=["libelle"], title="Diagnostics les plus fréquents (tous statuts)",
                        xlabel="CIM-10", ylabel="Séjours", flip_yaxis=True)

# %% [markdown]
# ## Biologie

# %%
biologie = analysis.biology_summary(wh, sejours, n=top_n)
analysis.record("biologie", biologie)
biologie

# %%
valeurs = analysis.biology_values(wh, sejours, list(biologie["loinc"].head(4)))
analysis.distribution_plots(valeurs) if not valeurs.empty else print("Aucun résultat de biologie pour cette cohorte.")
