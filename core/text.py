"""Clean text from pages and senders: no lone surrogates, no control characters."""

from __future__ import annotations

import re

# C0 and C1 controls (tab, newline and carriage return are turned into spaces first),
# and the lone halves of surrogate pairs that JSON "\ud800" escapes produce: neither can be
# stored in PostgreSQL nor sent to a chat platform.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATES = re.compile("[\ud800-\udfff]")
# Addresses lose every kind of whitespace, as browsers read them (the WHATWG URL standard
# removes tabs and newlines inside, spaces at the ends).
_URL_WHITESPACE = re.compile("[\t\n\r]")

# Longest product title kept (a chat message shows it in full).
MAX_TITLE = 300
# Longest image or canonical address kept from a page. A longer one is no link anyone can
# use (browsers and chat platforms refuse them; most are inline data: images), and it is
# dropped, not cut: a cut address points somewhere else.
MAX_PAGE_URL = 2048


def clean_text(text: str | None, limit: int | None = None) -> str | None:
    """`text` without control characters, lone surrogates as U+FFFD, whitespace runs
    collapsed to one space, cut to `limit` characters; None when nothing is left."""
    if text is None:
        return None
    cleaned = _SURROGATES.sub("\ufffd", _CONTROLS.sub("", text))
    cleaned = " ".join(cleaned.split())
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned or None


def clean_url(url: str | None, limit: int = MAX_PAGE_URL) -> str | None:
    """An address as a browser reads it, with clean characters; None when none is left or
    it is longer than `limit`."""
    if url is None:
        return None
    cleaned = _URL_WHITESPACE.sub("", _SURROGATES.sub("\ufffd", _CONTROLS.sub("", url)))
    cleaned = cleaned.strip(" ")
    if not cleaned or len(cleaned) > limit:
        return None
    return cleaned


def storable(text: str) -> str:
    """`text` as every database can store it: NUL removed, lone surrogates as U+FFFD (line
    breaks kept, unlike clean_text)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if _SURROGATES.search(text):
        text = _SURROGATES.sub("\ufffd", text)
    return text
