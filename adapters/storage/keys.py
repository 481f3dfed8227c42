"""The key of a product row: a hash of its page URL and CSS selector."""

from __future__ import annotations

import hashlib

from core.text import storable


def product_key(url: str, css_selector: str | None) -> str:
    """SHA-256 of the URL and the selector (hex). Indexed instead of the URL itself, which
    may be longer than a PostgreSQL btree key allows.

    Hashes the text as the database stores it (see types.SafeText), so a product read back
    is found again by its own URL and selector, and a URL that differs only by a NUL or a
    lone surrogate names the row stored for it."""
    text = f"{storable(url)}\n{storable(css_selector or '')}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def item_key(
    kind: str,
    source: str | None,
    source_id: str | None,
    finish: str | None,
    product_id: int | None,
) -> str:
    """SHA-256 of what identifies a market item: a card printing in one finish at one source,
    or a tracked product page."""
    text = "\n".join(str(part or "") for part in (kind, source, source_id, finish, product_id))
    return hashlib.sha256(storable(text).encode("utf-8")).hexdigest()
