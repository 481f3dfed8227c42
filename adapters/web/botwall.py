"""Recognises bot walls: challenge and captcha pages served instead of the product page.

Markers are the vendors' own, present on their challenge pages and absent from the
ordinary pages they protect (Cloudflare, for one, injects a /cdn-cgi/challenge-platform/
script into normal pages, so that path alone proves nothing).
"""

from __future__ import annotations

from collections.abc import Mapping

# Challenge pages are small and say what they are near the top; a product page that is
# megabytes long is scanned only this far, which keeps the check cheap.
SCAN_BYTES = 256 * 1024

_BODY_MARKERS: tuple[bytes, ...] = (
    # Cloudflare managed challenge / "I'm under attack" / block page
    b"_cf_chl_opt",
    b"<title>just a moment...</title>",
    b"cf-browser-verification",
    b"attention required! | cloudflare",
    # Amazon robot check
    b"/errors/validatecaptcha",
    b"<title>robot check</title>",
    b"api-services-support@amazon.com",
    # DataDome interstitial and captcha
    b"captcha-delivery.com",
    # PerimeterX / HUMAN "press and hold"
    b'id="px-captcha"',
    b"px-captcha-wrapper",
    # Akamai Bot Manager "Access Denied ... Reference #"
    b"errors.edgesuite.net",
    # Imperva / Incapsula, and Distil (now Imperva)
    b"incapsula incident id",
    b"<title>pardon our interruption</title>",
)


def is_bot_wall(headers: Mapping[str, str], body: bytes) -> bool:
    """True when the response is a challenge or captcha page rather than the page asked for."""
    if headers.get("cf-mitigated", "").strip().lower() == "challenge":
        return True
    head = body[:SCAN_BYTES].lower()
    return any(marker in head for marker in _BODY_MARKERS)
