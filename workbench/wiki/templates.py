"""HTML, CSS and JavaScript of the static dictionary (no CDN: it must open from a file)."""

from string import Template

PAGE = Template("""<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title — Wiki Pilote</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<header class="bandeau"><a href="index.html">Wiki Pilote — dictionnaire des indicateurs de l'EDS</a>
<span class="genere">Généré le $generated$snapshot</span></header>
<div class="cadre">
<nav class="barre">$sidebar</nav>
<main>
$content
</main>
</div>
$scripts
</body>
</html>
""")

SEARCH_BOX = """<section class="recherche">
<label for="recherche">Rechercher un indicateur ou une page</label>
<input id="recherche" type="search" placeholder="ex. durée de séjour, urgences, AREM…" autocomplete="off">
<ul id="resultats" aria-live="polite"></ul>
</section>"""

SEARCH_SCRIPTS = '<script src="search-index.js"></script>\n<script src="search.js"></script>'

SEARCH_JS = r"""// Client-side search over the pages of the dictionary (names, definitions, text).
(function () {
  "use strict";
  var input = document.getElementById("recherche");
  var list = document.getElementById("resultats");
  if (!input || !list || !window.WIKI_INDEX) { return; }
  function fold(text) {
    return (text || "").toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "");
  }
  var entries = window.WIKI_INDEX.map(function (entry) {
    return { entry: entry, name: fold(entry.title + " " + entry.id), body: fold(entry.text) };
  });
  function score(item, words) {
    var total = 0;
    for (var i = 0; i < words.length; i++) {
      if (item.name.indexOf(words[i]) >= 0) { total += 3; }
      else if (item.body.indexOf(words[i]) >= 0) { total += 1; }
      else { return 0; }
    }
    return total;
  }
  function show() {
    var words = fold(input.value).split(/\s+/).filter(Boolean);
    list.innerHTML = "";
    if (!words.length) { return; }
    var found = entries.map(function (item) { return { item: item, score: score(item, words) }; })
      .filter(function (hit) { return hit.score > 0; })
      .sort(function (a, b) { return b.score - a.score; });
    if (!found.length) {
      var none = document.createElement("li");
      none.textContent = "Aucun résultat.";
      list.appendChild(none);
      return;
    }
    found.forEach(function (hit) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = hit.item.entry.url;
      link.textContent = hit.item.entry.title;
      var kind = document.createElement("span");
      kind.className = "genre";
      kind.textContent = " " + hit.item.entry.kind;
      var text = document.createElement("p");
      text.textContent = hit.item.entry.summary;
      li.appendChild(link); li.appendChild(kind); li.appendChild(text);
      list.appendChild(li);
    });
  }
  input.addEventListener("input", show);
})();
"""

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2733; line-height: 1.5; }
.bandeau { background: #0b3d6e; color: #fff; padding: .7rem 1.2rem; display: flex; justify-content: space-between; }
.bandeau a { color: #fff; font-weight: 600; text-decoration: none; }
.genere { font-size: .8rem; opacity: .8; }
.cadre { display: flex; align-items: flex-start; }
.barre { width: 16rem; min-width: 16rem; padding: 1rem; background: #f2f5f8; min-height: 100vh; font-size: .9rem; }
.barre ul { padding-left: 1rem; margin: .2rem 0 .8rem; }
main { padding: 1rem 2rem; max-width: 70rem; overflow-x: auto; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border: 1px solid #c9d3dd; padding: .25rem .5rem; vertical-align: top; }
th { background: #e6edf4; text-align: left; }
table.valeurs th { white-space: nowrap; }
td.nombre { text-align: right; font-variant-numeric: tabular-nums; }
.fiche th { width: 12rem; }
.statut-validated { color: #1b6e2c; font-weight: 600; }
.statut-draft { color: #9a5b00; font-weight: 600; }
.definition { font-size: 1.05rem; background: #f7fafc; border-left: 4px solid #0b3d6e; padding: .6rem 1rem; }
.avertissement { color: #8a1f11; }
.lien-casse { color: #8a1f11; text-decoration: underline wavy; }
.recherche input { width: 100%; max-width: 36rem; padding: .5rem; font-size: 1rem; }
#resultats { list-style: none; padding: 0; }
#resultats li { margin: .6rem 0; }
#resultats p { margin: .1rem 0; color: #4b5866; font-size: .9rem; }
.genre { color: #6b7785; font-size: .8rem; }
.cartes { display: grid; grid-template-columns: repeat(auto-fill, minmax(18rem, 1fr)); gap: .8rem; }
.carte { border: 1px solid #c9d3dd; border-radius: 6px; padding: .6rem .8rem; }
.carte h3 { margin: 0 0 .3rem; font-size: 1rem; }
.carte p { margin: 0; font-size: .85rem; color: #4b5866; }
code { background: #eef2f6; padding: 0 .2rem; }
"""
