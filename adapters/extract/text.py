"""Visible text of lxml elements: whitespace collapsed, scripts and styles left out."""

from __future__ import annotations

from lxml import etree

_INVISIBLE = {"script", "style", "noscript", "template", "svg"}


def element_text(element: etree._Element, limit: int = 2000) -> str:
    """The text a reader sees in an element, on one line, at most `limit` characters."""
    parts: list[str] = []
    size = 0
    for text in _visible_texts(element):
        parts.append(text)
        size += len(text)
        if size > limit:
            break
    return " ".join(" ".join(parts).split())[:limit]


def _visible_texts(element: etree._Element):  # noqa: ANN202 - a generator of str
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag.lower() in _INVISIBLE:
        return
    if element.text:
        yield element.text
    for child in element:
        yield from _visible_texts(child)
        if child.tail:
            yield child.tail
