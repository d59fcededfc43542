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
# Part des séjours PMSI MCO terminés (hospitalisation complète, ambulatoire, séances) qui ont un diagnostic principal (DP), lue à M+1, M+2 et M+3 après le mois de sortie, selon la source : ORBIS (codage au fil de l'eau) ou AREM (PMSI validé par le DIM, disponible un à deux mois après la sortie). Calcul par l'indicateur exhaustivite_codage du dictionnaire ; l'écart entre les deux sources mesure le retard de codage.

# %% tags=["parameters"]
catalog: str = ""  # catalogue (vide : $WORKBENCH_CATALOG ou ./catalog.yaml)
wiki: str = ""  # dossier du wiki (vide : $WORKBENCH_WIKI, ./wiki, sinon celui du paquet installé)
hospital: str = ""  # code de l'hôpital (vide : tout l'AP-HP)
start: str = ""  # premier mois de sortie (AAAA-MM) ; vide : 12 mois avant la fin
end: str = ""  # dernier mois de sortie (AAAA-MM) ; vide : mois de l'extraction

# %%
from pathlib import Path

from IPython.display import Markdown

import workbench
from workbench import analysis, paths
from workbench.indicators.dictionary import load_dictionary

analysis.enable_plots()
wh = workbench.open(catalog=catalog or None)
start, end = analysis.resolve_period(wh, start, end)
page = load_dictionary(paths.wiki_path(Path(wiki) if wiki else None)).get("exhaustivite_codage")
perimetre = f"hôpital {hospital}" if hospital else "AP-HP"
Markdown(f"Périmètre : **{perimetre}**, séjours sortis de {start} à {end} ; extraction du **{wh.extraction_date}**.\n\n"
         f"Indicateur `{page.definition.id}` : {page.definition.definition}")

# %% [markdown]
# ## Lecture : un mois de sortie M lu à M+n
#
# Une extraction lit chaque mois de sortie M avec un recul de n mois (n = mois de l'extraction − M) : le dernier mois est lu à M+0, le précédent à M+1, etc. La part codée d'un mois ancien est stabilisée ; celle des derniers mois montre le retard de codage, nul ou presque pour ORBIS, d'un à deux mois pour AREM.

# %%
retard = analysis.coding_lag(wh, page.definition, start, end, hospital)
analysis.record("exhaustivite", retard)
retard.pivot_table(index=["mois", "recul"], columns="source", values="value")

# %% [markdown]
# ## Séjours codés à M+1, M+2, M+3

# %%
horizons = analysis.coding_at_horizons(retard, (1, 2, 3))
analysis.record("horizons", horizons)
horizons

# %% [markdown]
# ## Évolution par mois de sortie

# %%
retard.hvplot.line(x="mois", y="value", by="source", title="Part des séjours avec un DP (%) selon la source",
                   xlabel="Mois de sortie", ylabel="% de séjours codés", rot=45, ylim=(0, 105), markers=True)
