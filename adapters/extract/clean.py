"""Clean text for an Observation's title, image and canonical address, whatever the page held."""

from __future__ import annotations

import re

# Longest title kept (a chat message shows it in full).
MAX_TITLE = 300
# Longest address kept. A longer one is no link anyone can use (browsers and chat platforms
# refuse such links; most are inline data: images) and it is dropped, not cut: a cut
# address points somewhere else.
MAX_URL = 2048

# Icon-font glyphs (Unicode private use area) are pictures, not words.
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
# A surrogate alone is no character (JSON "\ud800" escapes make them); one cannot even be
# encoded as UTF-8 to send it on.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 control characters and DEL, whitespace excepted: NUL and the like break logs,
# databases and chat messages, and show nothing a reader needs.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
# Addresses lose their spaces at the ends and every other kind of whitespace anywhere, as
# browsers read them (the WHATWG URL standard removes tabs and newlines inside).
_URL_WHITESPACE = re.compile("[\t\n\r\x0b\x0c]")


def _characters(text: str) -> str:
    """`text` with lone surrogates replaced and control characters (not whitespace) removed."""
    text = _LONE_SURROGATE.sub("\ufffd", text)
    return _CONTROL.sub("", text)


def plain_text(text: str | None, limit: int = MAX_TITLE) -> str | None:
    """A title as plain text: clean characters, whitespace collapsed, at most `limit`
    characters; never markup to interpret. None when nothing is left."""
    if text is None:
        return None
    visible = _PRIVATE_USE.sub("", _characters(text))
    collapsed = " ".join(visible.split())
    return collapsed[:limit] or None


def clean_url(url: str | None) -> str | None:
    """An address as a browser would read it, or None when none is left or it is too long."""
    if url is None:
        return None
    cleaned = _URL_WHITESPACE.sub("", _characters(url)).strip(" ")
    if not cleaned or len(cleaned) > MAX_URL:
        return None
    return cleaned
