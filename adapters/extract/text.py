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
# Levels any climb from an element towards the root looks at. Browsers build no tree deeper
# than 512 levels (Chromium moves deeper elements up to that level), so no page that shows
# its product needs more; a climb through 40,000 levels per candidate would not be linear.
MAX_CLIMB = 512
# Nodes a visible-text read walks through: enough for any price, label or button (their
# text is cut at a few hundred characters); a read of a whole page's subtree per candidate
# would not be linear.
MAX_TEXT_NODES = 2_000
# Text and comment nodes looked through for an element's next or previous element sibling.
MAX_SIBLINGS = 64
# Characters of a class/id string that are classified. Tailwind-style strings run to a few
# hundred; longer ones are junk, and the caches that remember strings across pages must not
# hold megabytes of them.
MAX_CLASS_WORDS = 1_000


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
    parts: list[str] = []
    wanted = limit * 4  # raw characters: whitespace collapses
    hidden = False
    visited = 0
    node = element.child
    while node is not None and visited < MAX_TEXT_NODES:
        visited += 1
        if node.is_text_node:
            text = node.text_content or ""
            parts.append(text)
            wanted -= len(text)
            if wanted <= 0:
                break
        elif node.is_element_node:
            if node.tag in _INVISIBLE:
                hidden = True
            elif node.child is not None:
                node = node.child
                continue
        node = _next_in_subtree(node, element)
    raw = " ".join(parts)
    if not hidden:
        # As Lexbor's own text(): the first limit * 4 raw characters (whitespace included)
        # are read, so a short label padded with spaces shows as the reader sees it.
        raw = raw[: limit * 4]
    return " ".join(raw.split())[:limit]


def _next_in_subtree(node: LexborNode, root: LexborNode) -> LexborNode | None:
    """The node after `node`'s subtree in document order, within `root`'s subtree."""
    while node.next is None:
        parent = node.parent
        if parent is None or same(parent, root):
            return None
        node = parent
    return node.next


def own_text(element: LexborNode) -> str:
    """The text directly inside an element, not inside its children."""
    return element.text(deep=False)


def class_words(element: LexborNode) -> str:
    attributes = element.attributes
    classes = (attributes.get("class") or "")[:MAX_CLASS_WORDS]
    return f"{classes} {(attributes.get('id') or '')[:MAX_CLASS_WORDS]}"


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
    skipped = 0
    while node is not None and not node.is_element_node:
        skipped += 1
        node = node.next if skipped < MAX_SIBLINGS else None
    return node


def previous_element(element: LexborNode) -> LexborNode | None:
    node = element.prev
    skipped = 0
    while node is not None and not node.is_element_node:
        skipped += 1
        node = node.prev if skipped < MAX_SIBLINGS else None
    return node


def text_after(element: LexborNode) -> str:
    """Text between an element and its next element sibling (lxml's `tail`)."""
    parts = []
    node = element.next
    while node is not None and not node.is_element_node and len(parts) < MAX_SIBLINGS:
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
