"""The visible prose of an HTML page, read with a real HTML5 parser (selectolax/lexbor).

selectolax is chosen over lxml and trafilatura: its lexbor engine parses HTML the way a
browser does (so malformed or hostile markup is read as a browser would show it), it is fast
enough for thousands of pages, has no system library dependencies, and supports CSS
selectors, which lets the page's own `<style>` rules that hide elements be applied. trafilatura
would guess at "main content" and drop text silently; here only what a reader cannot see is
dropped: non-content elements (script, style, template, nav, forms' controls, embedded
objects) and hidden ones (`hidden`, `aria-hidden="true"`, inline or stylesheet
`display:none`, `visibility:hidden`, zero font size or opacity, off-screen positioning).
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode


def _split(words: str) -> list[str]:
    return re.findall(r"\S+", words)


__all__ = ["html_to_text"]

_NON_CONTENT = (
    "script, style, noscript, template, nav, head, iframe, object, embed, svg, math, canvas, "
    "button, select, option, textarea, input, dialog, map, audio, video, picture, source"
)
_BLOCK = frozenset(
    _split(
        "p div section article header footer main aside br h1 h2 h3 h4 h5 h6 li ul ol table tr "
        "td th blockquote pre hr dl dt dd figure figcaption address details summary"
    )
)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


def _declarations(style: str) -> dict[str, str]:
    """CSS declarations `prop: value; ...` as a dict (property names lower-cased)."""
    out: dict[str, str] = {}
    for declaration in style.split(";"):
        name, sep, value = declaration.partition(":")
        if sep:
            out[name.strip().lower()] = " ".join(value.lower().replace("!important", "").split())
    return out


def _zero(value: str) -> bool:
    number = re.match(r"^-?\d*\.?\d+", value)
    return number is not None and float(number.group(0)) == 0.0


def _hides(style: str) -> bool:
    """Whether CSS declarations make an element invisible to a reader."""
    d = _declarations(style)
    if d.get("display") == "none" or d.get("visibility") in ("hidden", "collapse"):
        return True
    if any(_zero(d[p]) for p in ("font-size", "opacity") if p in d):
        return True
    if any(_zero(d[p]) for p in ("height", "width", "max-height", "max-width") if p in d) and (
        d.get("overflow") == "hidden"
    ):
        return True
    if d.get("color") in ("transparent", "rgba(0,0,0,0)", "rgba(0, 0, 0, 0)"):
        return True
    if "clip" in d or "clip-path" in d:
        return True
    for prop in ("left", "top", "right", "text-indent", "margin-left", "margin-top"):
        value = d.get(prop, "")
        if value.startswith("-") and re.match(r"^-\d{3,}", value):
            return True  # pushed off-screen
    return "transform" in d and "scale(0" in d["transform"]


def _stylesheet_hidden(tree: LexborHTMLParser) -> list[str]:
    """Selectors of the page's own `<style>` rules that hide what they match."""
    selectors: list[str] = []
    for style in tree.css("style"):
        css = re.sub(r"/\*.*?\*/", "", style.text(deep=True), flags=re.S)
        for rule in css.split("}"):
            selector, sep, body = rule.partition("{")
            if sep and _hides(body):
                selectors.extend(s.strip() for s in selector.split(",") if s.strip())
    return selectors


def _drop_invisible(tree: LexborHTMLParser) -> None:
    doomed: list[LexborNode] = list(tree.css(_NON_CONTENT))
    for selector in _stylesheet_hidden(tree):
        try:
            doomed.extend(tree.css(selector))
        except Exception:  # noqa: S112 - a selector lexbor cannot evaluate hides nothing we know of
            continue
    for node in tree.css("[hidden], [aria-hidden], [style]"):
        attrs = node.attributes
        aria = (attrs.get("aria-hidden") or "").strip().lower() == "true"
        if "hidden" in attrs or aria or _hides(attrs.get("style") or ""):
            doomed.append(node)
    for node in doomed:
        node.decompose(recursive=True)


def _walk(node: LexborNode, parts: list[str]) -> None:
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            parts.append(child.text_content or "")
            continue
        if tag is None or tag.startswith("-"):
            continue
        block = tag in _BLOCK
        if block:
            parts.append("\n\n")
        if tag in _HEADINGS:
            parts.append("#" * _HEADINGS[tag] + " ")  # headings stay headings, as in markdown
        _walk(child, parts)
        if block:
            parts.append("\n\n")


def html_to_text(html: str) -> tuple[str, str]:
    """(title, text) of an HTML page: visible prose as paragraphs separated by blank lines,
    headings as `#` lines; title from `<title>`, else the first visible `<h1>`."""
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = " ".join(title_node.text(deep=True).split()) if title_node else ""
    _drop_invisible(tree)
    if not title:
        h1 = tree.css_first("h1")
        title = " ".join(h1.text(deep=True).split()) if h1 else ""
    parts: list[str] = []
    root = tree.body or tree.root
    if root is not None:
        _walk(root, parts)
    paragraphs = [" ".join(block.split()) for block in re.split(r"\n\s*\n", "".join(parts))]
    return title, "\n\n".join(p for p in paragraphs if p)
