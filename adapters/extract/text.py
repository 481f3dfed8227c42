"""Visible text of lxml elements: whitespace collapsed, scripts and styles left out."""

from __future__ import annotations

import re

from lxml import etree

# Class/id words of page regions that show other products (and so other prices).
OTHER_PRODUCTS = re.compile(
    r"related|recommend|similar|carousel|upsell|cross-?sell|recent|also|bought|accessor|"
    r"footer|site-header|\bnav|menu|sidebar|sponsor|widget|slider|suggest|teaser|"
    r"product-?list|productgrid|grid-item|listing|you-?may|others|thumb",
    re.I,
)
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


def _visible_texts(element: etree._Element):
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag.lower() in _INVISIBLE:
        return
    if element.text:
        yield element.text
    for child in element:
        yield from _visible_texts(child)
        if child.tail:
            yield child.tail


def class_words(element: etree._Element) -> str:
    return f"{element.get('class') or ''} {element.get('id') or ''}"


def in_other_products_region(element: etree._Element, depth: int = 15) -> bool:
    """Whether an element sits in a related-products / carousel / navigation region."""
    node: etree._Element | None = element
    level = 0
    while node is not None and level < depth:
        if OTHER_PRODUCTS.search(class_words(node)):
            return True
        node = node.getparent()
        level += 1
    return False
