"""Clean text for an Observation's title, whatever the page held (addresses: core.text)."""

from __future__ import annotations

import re

from core.text import MAX_TITLE, clean_text

# Icon-font glyphs (Unicode private use area) are pictures, not words.
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")


def plain_text(text: str | None, limit: int = MAX_TITLE) -> str | None:
    """A title as plain text: clean characters, no icon glyphs, whitespace collapsed, at most
    `limit` characters; never markup to interpret. None when nothing is left."""
    if text is None:
        return None
    return clean_text(_PRIVATE_USE.sub("", text), limit)
