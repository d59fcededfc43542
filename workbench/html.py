"""The one HTML sanitiser of the workbench: every string from wiki pages, reports or data shown as HTML.

Wiki pages, indicator definitions, names, problem-report texts and values read
from the warehouse are written by people other than the reader. Rendered as
HTML without care, a definition holding ``<img src=x onerror=…>`` runs script
in the reader's session (stored XSS). Escaping at every call site is easy to
forget, so the dashboards and the static site pass whatever they render from
such strings through :func:`sanitize` (an allow-list applied by ``nh3``, a
maintained sanitiser built on the html5ever parser): only the tags and
attributes needed by Markdown, tables and the pages' own cards survive, URLs are
limited to http(s), mailto and relative links, and every ``on*`` handler,
``<script>``, ``<style>``, ``<iframe>``, ``<form>`` and ``javascript:`` URL is removed.
"""

from __future__ import annotations

from functools import lru_cache

import nh3

TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "details", "div", "dl",
    "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "kbd", "li", "ol", "p", "pre", "s",
    "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
})
"""What Markdown (tables, task lists, footnotes) and the pages' own cards and tables produce."""

ATTRIBUTES = {
    "*": {"class", "id", "title", "style", "lang"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start"},
    "input": {"type", "checked", "disabled"},
    "code": {"class"},
}
"""Attributes kept per tag (``data-*`` attributes are kept on every tag, see `ATTRIBUTE_PREFIXES`)."""

ATTRIBUTE_PREFIXES = frozenset({"data-"})
"""The pages mark figures with data-* attributes (read by tests and scripts, never executed)."""

URL_SCHEMES = frozenset({"http", "https", "mailto"})
"""Schemes allowed in href/src; relative links (``/dictionnaire?…``, ``page.html``) are always kept."""

STYLE_PROPERTIES = frozenset({
    "background-color", "border", "border-bottom", "border-collapse", "border-radius", "color",
    "columns", "display", "font-size", "font-style", "font-weight", "margin", "margin-top", "margin-bottom",
    "padding", "text-align", "white-space", "width",
})
"""Inline CSS properties kept (the pages' cards use them); any other property — and url() in them — is dropped."""


@lru_cache(maxsize=4096)
def sanitize(markup: str) -> str:
    """`markup` with everything outside the allow-list removed (tags, attributes, URL schemes, CSS properties).

    Text content is kept and escaped; a removed tag keeps its text, except
    ``script``/``style`` whose content is dropped. Idempotent, so a page may
    sanitise a fragment that was already sanitised.
    """
    return nh3.clean(
        markup,
        tags=set(TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        generic_attribute_prefixes=set(ATTRIBUTE_PREFIXES),
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        filter_style_properties=set(STYLE_PROPERTIES),
        strip_comments=True,
    )


@lru_cache(maxsize=1)
def _markdown_parser():  # noqa: ANN202 - markdown_it.MarkdownIt, imported lazily
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


def markdown_html(markdown: str) -> str:
    """Markdown (raw HTML in it allowed, then sanitised) as safe HTML: the wiki's rendering on every surface."""
    return sanitize(_markdown_parser().render(markdown))


def plain(text: str) -> str:
    """`text` as a label with no markup at all: tags removed, and no ``<``/``>`` left to form one.

    For strings a widget may render as HTML (Choices.js option labels: indicator
    and care-site names), where even escaped markup must not come back.
    """
    import html

    return html.unescape(nh3.clean(str(text), tags=set())).replace("<", "").replace(">", "")
