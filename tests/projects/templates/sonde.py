# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Sonde des droits du noyau
#
# Ce que le noyau d'un utilisateur peut lire : son projet, et ni l'entrepôt, ni l'état, ni les projets des autres.

# %% tags=["parameters"]
catalog: str = ""  # catalogue (injecté : celui du projet)
interdits: list[str] = []  # fichiers que le noyau ne doit pas pouvoir ouvrir

# %%
import os

import workbench
from workbench import analysis

refus = {}
for chemin in interdits:
    try:
        with open(chemin, "rb") as fichier:
            fichier.read(1)
        refus[chemin] = "lu"
    except OSError as erreur:
        refus[chemin] = type(erreur).__name__
analysis.record("refus", refus)
analysis.record("uid", os.getuid())
wh = workbench.open(catalog=catalog or None)
sejours = wh.execute(wh.view("stays"))
analysis.record("hopitaux", sorted(sejours["hospital"].dropna().unique().tolist()))
analysis.record("sejours", len(sejours))
