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
# # Analyse approfondie d'un indicateur
#
# Un indicateur du dictionnaire (Wiki Pilote) : sa définition telle qu'écrite sur sa page, sa valeur ventilée comme dans le tableau de bord (même moteur, même définition), la requête générée et les tables et colonnes lues (lignage). Reproduit une vue du tableau de bord de pilotage.

# %% tags=["parameters"]
catalog: str = ""  # catalogue (vide : $WORKBENCH_CATALOG ou ./catalog.yaml)
wiki: str = ""  # dossier du wiki (vide : $WORKBENCH_WIKI, ./wiki, sinon celui du paquet installé)
indicator: str = "nb_sejours"  # identifiant de l'indicateur
by: list[str] = ["month", "hospital"]  # ventilation (hospital, pole, service, uf, month, quarter, year, stay_type, visit_type, age_band, sex)
start: str = ""  # premier mois (AAAA-MM) ; vide : 12 mois avant la fin
end: str = ""  # dernier mois (AAAA-MM) ; vide : mois de l'extraction
hospital: str = ""  # restreindre à un hôpital (vide : AP-HP)
version: str = ""  # version de la définition (vide : celle en vigueur)

# %%
from pathlib import Path

from IPython.display import Markdown

import workbench
from workbench import analysis, paths
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute

analysis.enable_plots()
wh = workbench.open(catalog=catalog or None)
start, end = analysis.resolve_period(wh, start, end)
page = load_dictionary(paths.wiki_path(Path(wiki) if wiki else None)).get(indicator)
definition = page.definition
Markdown(f"**{definition.name}** (`{definition.id}`, {definition.unit}) — {definition.definition}")

# %% [markdown]
# ## Définition (page du wiki)

# %%
Markdown(analysis.wiki_markdown(page.body))

# %% [markdown]
# ## Valeur

# %%
filtres = {"hospital": [hospital]} if hospital else {}
resultat = compute(definition, wh, by=tuple(by), start=start, end=end, filters=filtres, version=version or None)
valeur = resultat.frame
analysis.record("valeur", valeur)
analysis.record("stamp", resultat.stamp)
valeur

# %%
temps = next((d for d in by if d in ("month", "quarter", "year")), None)
autres = [d for d in by if d != temps]
if temps and not valeur.empty:
    graphique = valeur.hvplot.line(x=temps, y="value", by=autres[0] if autres else None,
                                   title=f"{definition.name} ({definition.unit})", xlabel="Période",
                                   ylabel=definition.unit, rot=45)
elif autres and not valeur.empty:
    graphique = valeur.hvplot.bar(x=autres[0], y="value", title=f"{definition.name} ({definition.unit})",
                                  ylabel=definition.unit, rot=45)
else:
    graphique = Markdown(f"Valeur : **{valeur['value'].iloc[0] if not valeur.empty else 'aucune'}** {definition.unit}")
graphique

# %% [markdown]
# ## Requête générée

# %%
Markdown(f"```sql\n{resultat.sql}\n```")

# %% [markdown]
# ## Lignage : tables et colonnes lues

# %%
lignage = resultat.lineage
analysis.record("lignage", lignage)
lignage
