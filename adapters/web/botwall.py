"""Recognises bot walls: challenge and captcha pages served instead of the product page.

Markers are the vendors' own, present on their challenge pages and absent from the
ordinary pages they protect (Cloudflare, for one, injects a /cdn-cgi/challenge-platform/
script into normal pages, so that path alone proves nothing).
"""

from __future__ import annotations

from collections.abc import Mapping

# Challenge pages are a few kilobytes and carry their markers near the top; looking only
# this far keeps the check cheap on multi-megabyte product pages.
SCAN_BYTES = 16 * 1024
_TITLE_BYTES = 4 * 1024

# Case-sensitive anchors, one of which every body marker below contains as written by
# the vendors; searching raw bytes for these first spares lower-casing ordinary pages.
_ANCHORS: tuple[bytes, ...] = (b"aptcha", b"_cf_chl", b"edgesuite", b"ncapsula")

_BODY_MARKERS: tuple[bytes, ...] = (
    b"_cf_chl_opt",  # Cloudflare managed challenge script
    b"/errors/validatecaptcha",  # Amazon robot check form
    b"captcha-delivery.com",  # DataDome interstitial and captcha
    b'id="px-captcha"',  # PerimeterX / HUMAN "press and hold"
    b"px-captcha-wrapper",
    b"errors.edgesuite.net",  # Akamai "Access Denied ... Reference #"
    b"incapsula incident id",  # Imperva
)

_TITLE_MARKERS: tuple[bytes, ...] = (
    b"just a moment...",  # Cloudflare
    b"attention required! | cloudflare",
    b"robot check",  # Amazon (older form)
    b"pardon our interruption",  # Distil / Imperva
)


def is_bot_wall(headers: Mapping[str, str], body: bytes) -> bool:
    """True when the response is a challenge or captcha page rather than the page asked for."""
    if headers.get("cf-mitigated", "").strip().lower() == "challenge":
        return True
    if _title(body) in _TITLE_MARKERS:
        return True
    if not any(body.find(anchor, 0, SCAN_BYTES) != -1 for anchor in _ANCHORS):
        return False
    head = body[:SCAN_BYTES].lower()
    return any(marker in head for marker in _BODY_MARKERS)


def _title(body: bytes) -> bytes:
    """The page's <title> text, lower-cased and trimmed; b"" when there is none up front."""
    head = body[:_TITLE_BYTES].lower()
    start = head.find(b"<title")
    if start == -1:
        return b""
    start = head.find(b">", start)
    end = head.find(b"</title", start)
    if start == -1 or end == -1:
        return b""
    return b" ".join(head[start + 1 : end].split())
