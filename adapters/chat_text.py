"""Plain chat text cut to a platform's length limit, counted as both Telegram and Discord
count it: UTF-16 code units."""

from __future__ import annotations

import unicodedata

_ZERO_WIDTH_JOINERS = {"\u200c", "\u200d"}


def utf16_units(text: str) -> int:
    """UTF-16 code units: an emoji outside the BMP counts twice."""
    return len(text.encode("utf-16-le")) // 2


def longest_prefix(text: str, limit: int) -> int:
    """Number of code points of the longest prefix within `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def split_text(text: str, limit: int) -> list[str]:
    """Cuts plain text into pieces of at most `limit` UTF-16 units, preferring paragraph, then
    line, then word boundaries; a hard cut lands between code points (never inside a surrogate
    pair) and not before a combining mark."""
    if limit < 2:
        raise ValueError("limit must allow at least one character")
    pieces: list[str] = []
    remaining = text.strip()
    while utf16_units(remaining) > limit:
        cut = _preferred_cut(remaining, longest_prefix(remaining, limit))
        piece, remaining = remaining[:cut].rstrip(), remaining[cut:].lstrip()
        if piece:
            pieces.append(piece)
    if remaining:
        pieces.append(remaining)
    return pieces


def _preferred_cut(text: str, max_cut: int) -> int:
    """Where to end the next piece of `text`, at most `max_cut` code points in."""
    # A boundary in the first half would leave a needlessly short part; cut harder instead.
    floor = max(max_cut // 2, 1)
    for separator in ("\n\n", "\n", " "):
        position = text.rfind(separator, 0, max_cut)
        if position >= floor:
            return position
    cut = max_cut
    while cut > floor and _joins_previous(text[cut - 1 : cut + 1]):
        cut -= 1
    return cut


def _joins_previous(pair: str) -> bool:
    """True when cutting between the two characters would break a visible character."""
    if len(pair) < 2:
        return False
    before, after = pair
    return (
        unicodedata.combining(after) != 0
        or unicodedata.category(after) == "Mn"
        or after in _ZERO_WIDTH_JOINERS
        or before in _ZERO_WIDTH_JOINERS
        or 0xFE00 <= ord(after) <= 0xFE0F  # variation selectors
        or 0x1F3FB <= ord(after) <= 0x1F3FF  # skin tone modifiers
    )
