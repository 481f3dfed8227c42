"""Elements of the page tree: their visible text (whitespace collapsed, scripts and styles
left out), attributes and relatives."""

from __future__ import annotations

import re
from functools import lru_cache

from selectolax.lexbor import LexborNode

# Class/id words of page regions that show other products (and so other prices).
OTHER_PRODUCTS = re.compile(
    r"related|recommend|similar|carousel|upsell|cross-?sell|recent|also|bought|accessor|"
    r"footer|site-header|\bnav|menu|sidebar|sponsor|widget|slider|suggest|teaser|"
    r"product-?list|productgrid|grid-item|listing|you-?may|others|thumb",
    re.I,
)
_INVISIBLE = frozenset({"script", "style", "noscript", "template", "svg"})
_INVISIBLE_SELECTOR = ", ".join(sorted(_INVISIBLE))


def same(first: LexborNode | None, second: LexborNode | None) -> bool:
    """Whether two node objects stand for the same element. Never `==`: selectolax
    compares nodes by their serialised HTML (slow, and true for look-alike elements);
    node objects are made afresh on each access, so `is` fails too."""
    if first is None or second is None:
        return first is second
    return first.mem_id == second.mem_id


# Attributes are read through `attributes` (a dict of them all) rather than `attrs.get`:
# selectolax answers a missing name there by raising and catching KeyError, 1.1 us a time,
# and most reads here ask for attributes an element does not have.


def attr(element: LexborNode, name: str) -> str | None:
    """An attribute's value; None when it is missing or has no value (`<b hidden>`)."""
    return element.attributes.get(name)


def has_attr(element: LexborNode, name: str) -> bool:
    """Whether an element carries an attribute, with or without a value (`itemscope`)."""
    return name in element.attributes


def element_text(element: LexborNode, limit: int = 2000) -> str:
    """The text a reader sees in an element, on one line, at most `limit` characters."""
    if element.tag in _INVISIBLE:
        return ""
    if element.css_first(_INVISIBLE_SELECTOR) is None:
        # Nothing hidden inside: Lexbor joins the text in C.
        raw = element.text(deep=True, separator=" ")
        return " ".join(raw[: limit * 4].split())[:limit]
    parts: list[str] = []
    _visible_texts(element, parts, limit)
    return " ".join(" ".join(parts).split())[:limit]


def _visible_texts(element: LexborNode, parts: list[str], limit: int) -> int:
    """Appends the visible text pieces under `element` until `limit` characters; returns
    how many characters remain to be read."""
    for child in element.iter(include_text=True):
        if limit <= 0:
            break
        if child.is_text_node:
            text = child.text_content or ""
            parts.append(text)
            limit -= len(text)
        elif child.is_element_node and child.tag not in _INVISIBLE:
            limit = _visible_texts(child, parts, limit)
    return limit


def own_text(element: LexborNode) -> str:
    """The text directly inside an element, not inside its children."""
    return element.text(deep=False)


def class_words(element: LexborNode) -> str:
    attributes = element.attributes
    return f"{attributes.get('class') or ''} {attributes.get('id') or ''}"


@lru_cache(maxsize=50_000)
def names_other_products(words: str) -> bool:
    """Whether class/id words name a region of other products. Remembered across pages:
    one shop's template repeats its class strings on every page."""
    return OTHER_PRODUCTS.search(words) is not None


def parent_of(element: LexborNode) -> LexborNode | None:
    """An element's parent element (None at the root: its parent is the document)."""
    parent = element.parent
    return parent if parent is not None and parent.is_element_node else None


def next_element(element: LexborNode) -> LexborNode | None:
    """The next sibling that is an element (text and comments skipped)."""
    node = element.next
    while node is not None and not node.is_element_node:
        node = node.next
    return node


def previous_element(element: LexborNode) -> LexborNode | None:
    node = element.prev
    while node is not None and not node.is_element_node:
        node = node.prev
    return node


def text_after(element: LexborNode) -> str:
    """Text between an element and its next element sibling (lxml's `tail`)."""
    parts = []
    node = element.next
    while node is not None and not node.is_element_node:
        if node.is_text_node:
            parts.append(node.text_content or "")
        node = node.next
    return "".join(parts)


def has_element_children(element: LexborNode) -> bool:
    node = element.child
    while node is not None:
        if node.is_element_node:
            return True
        node = node.next
    return False


def in_other_products_region(element: LexborNode, depth: int = 15) -> bool:
    """Whether an element sits in a related-products / carousel / navigation region."""
    node: LexborNode | None = element
    level = 0
    while node is not None and level < depth:
        if names_other_products(class_words(node)):
            return True
        node = parent_of(node)
        level += 1
    return False
