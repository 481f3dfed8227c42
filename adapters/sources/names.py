"""How well a card's name matches what a user typed, for ordering search results."""

from __future__ import annotations

import unicodedata


def folded(text: str) -> str:
    """Lower case, accents and repeated spaces gone: "Flabébé " and "flabebe" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split())


def name_rank(name: str, query: str) -> int:
    """0 for the exact name, 1 when the name starts with the query, 2 when it contains it,
    3 otherwise. Sort on it (a stable sort keeps the source's own order within a rank)."""
    name, query = folded(name), folded(query)
    if name == query:
        return 0
    if name.startswith(query):
        return 1
    return 2 if query in name else 3
