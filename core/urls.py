"""Product URLs: validation and the canonical form that keys one product row per page."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import SplitResult, quote, unquote_plus, urlsplit

from core.errors import InvalidUrl

# Browsers and servers cope with ~8 KB, but a product link longer than this is a pasted
# blob, not an address; refusing it early keeps the database key sane.
MAX_URL_LENGTH = 4096

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Query keys that only say where a click came from. Matched case-insensitively; anything
# not listed is kept, because shops select products and variants with query keys
# (id, sku, variant, childSku, pid, color, size...).
TRACKING_PARAMS = frozenset(
    {
        # ad platforms
        "gclid",
        "gclsrc",
        "gbraid",
        "wbraid",
        "dclid",
        "gad_source",
        "gad_campaignid",
        "fbclid",
        "msclkid",
        "yclid",
        "ysclid",
        "ttclid",
        "twclid",
        "li_fat_id",
        "epik",
        "igshid",
        "igsh",
        "srsltid",
        "rdt_cid",
        "irclickid",
        "irgwc",
        # analytics and mailing tools
        "_ga",
        "_gl",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "__hssc",
        "__hstc",
        "__hsfp",
        "hsctatracking",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "vero_conv",
        "rb_clickid",
        "s_cid",
        "wickedid",
        "_branch_match_id",
        "_bta_tid",
        "_bta_c",
        "trk",
        "trkid",
        "trackingid",
        "cmpid",
        "ncid",
        "sr_share",
        # referral and affiliate markers
        "ref",
        "ref_",
        "ref_src",
        "ref_url",
        "referrer",
        "tag",
        "affid",
        "aff_id",
        "affiliate_id",
        "cjevent",
        "cjdata",
        "awc",
        "sscid",
        "zanpid",
        "ranmid",
        "raneaid",
        "ransiteid",
        "clickid",
        "click_id",
        "campid",
        "customid",
        "toolid",
        "mkevt",
        "mkcid",
        "mkrid",
        "_trkparms",
        "_trksid",
        "amdata",
        # marketplace search/session noise (AliExpress, Taobao, Amazon-style links elsewhere)
        "spm",
        "scm",
        "pvid",
        "algo_pvid",
        "algo_expid",
        "btsid",
        "ws_ab_test",
        "aff_fcid",
        "aff_fsk",
        "aff_platform",
        "aff_trace_key",
        "terminal_id",
        "pd_rd_r",
        "pd_rd_w",
        "pd_rd_wg",
        "pd_rd_i",
        "pf_rd_p",
        "pf_rd_r",
        "pf_rd_s",
        "pf_rd_t",
        "pf_rd_i",
        "pf_rd_m",
        "crid",
        "sprefix",
        "linkcode",
        "linkid",
        "ascsubtag",
        "creativeasin",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "piwik_", "matomo_", "hsa_", "itm_")

# www., smile. (retired charity front end) and m. are the same catalogue.
_AMAZON_HOST = re.compile(r"^(?:www\.|smile\.|m\.)?amazon\.((?:com?\.)?[a-z]{2,3})$")
_AMAZON_ASIN_PATHS = (
    re.compile(r"^/(?:[^/]+/)?dp/(?:product/)?([A-Za-z0-9]{10})(?:[/?]|$)"),
    re.compile(r"^/gp/product/(?:glance/)?([A-Za-z0-9]{10})(?:[/?]|$)"),
    re.compile(r"^/gp/aw/d/([A-Za-z0-9]{10})(?:[/?]|$)"),
    re.compile(r"^/exec/obidos/(?:asin|ASIN)/([A-Za-z0-9]{10})(?:[/?]|$)"),
    re.compile(r"^/o/(?:asin/)?([A-Za-z0-9]{10})(?:[/?]|$)"),
)

_HOST_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_PERCENT_ESCAPE = re.compile(r"%([0-9a-fA-F]{2})")
# Characters that may stand as they are in a path or query (RFC 3986 pchar, plus "/" and
# "?"); "%" is kept so existing escapes are not escaped twice.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def canonical_url(url: str) -> str:
    """The one form of `url` used as the product key; raises InvalidUrl if it is no web link.

    Lower-cases scheme and host, drops default ports, fragments and tracking parameters,
    keeps every other parameter in its order, and collapses Amazon product links to
    https://www.amazon.<tld>/dp/<ASIN>.
    """
    parts = _split(url)
    scheme = parts.scheme.lower()
    host = _host(parts.netloc, parts.hostname)
    port = _port(parts)

    amazon = _AMAZON_HOST.match(host)
    if amazon:
        asin = _amazon_asin(parts.path)
        if asin:
            return f"https://www.amazon.{amazon.group(1)}/dp/{asin}"

    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        authority = f"{authority}:{port}"
    path = _normalise_escapes(quote(parts.path or "/", safe=_PATH_SAFE))
    query = _strip_tracking(parts.query)
    return f"{scheme}://{authority}{path}" + (f"?{query}" if query else "")


# A link written without its scheme: "shop.example/item", "www.shop.co.uk/p?id=1".
_BARE_HOST = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?(?::\d{1,5})?(?:[/?#]|$)", re.I
)


def with_scheme(text: str) -> str:
    """`text` with https:// in front when it is a link written without a scheme."""
    candidate = text.strip()
    if "://" not in candidate and _BARE_HOST.match(candidate):
        return f"https://{candidate}"
    return candidate


def looks_like_url(text: str) -> bool:
    """True when a whole message is a single http(s) link to a named public-looking host
    (with or without its scheme)."""
    candidate = with_scheme(text)
    if not candidate.lower().startswith(("http://", "https://")):
        return False
    try:
        canonical = canonical_url(candidate)
    except InvalidUrl:
        return False
    host = urlsplit(canonical).hostname or ""
    return "." in host or ":" in host


def _split(url: str) -> SplitResult:
    if not isinstance(url, str):
        raise InvalidUrl()
    text = url.strip()
    if not text or len(text) > MAX_URL_LENGTH:
        raise InvalidUrl()
    # Whitespace or control characters inside a link mean two words or a broken paste.
    # A lone surrogate (category Cs) cannot even be encoded to be sent.
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text):
        raise InvalidUrl()
    try:
        parts = urlsplit(text)
    except ValueError as error:  # e.g. an unbalanced "[" in the host
        raise InvalidUrl() from error
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.netloc:
        raise InvalidUrl()
    if "@" in parts.netloc:
        # user:password@host links leak secrets into the shared product row, and
        # "shop.com@evil.example" is a classic way to disguise where a link goes.
        raise InvalidUrl(
            "Links with a user name or password in them are not accepted. Send the plain "
            "product link."
        )
    return parts


def _host(netloc: str, hostname: str | None) -> str:
    if not hostname:
        raise InvalidUrl()
    if netloc.startswith("["):
        try:
            address = ipaddress.IPv6Address(hostname.split("%", 1)[0])
        except ValueError as error:
            raise InvalidUrl() from error
        return address.compressed
    host = hostname.rstrip(".")  # "shop.example." is the same name as "shop.example"
    if not host.isascii():
        # Keep internationalised names readable; the fetcher encodes them with IDNA.
        # lower(), not casefold(): casefold turns "ß" into "ss", another domain under IDNA 2008.
        host = unicodedata.normalize("NFC", host).lower()
        labels = host.split(".")
        if any(not label or len(label) > 63 for label in labels):
            raise InvalidUrl()
        return host
    labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise InvalidUrl()
    return host


def _port(parts: SplitResult) -> int | None:
    try:
        port = parts.port
    except ValueError as error:  # not a number, or out of range
        raise InvalidUrl() from error
    if port == 0:
        raise InvalidUrl()
    return port


def _amazon_asin(path: str) -> str | None:
    for pattern in _AMAZON_ASIN_PATHS:
        found = pattern.match(path)
        if found:
            return found.group(1).upper()
    return None


def _strip_tracking(query: str) -> str:
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        key = unquote_plus(pair.split("=", 1)[0]).strip().lower()
        if key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES):
            continue
        kept.append(_normalise_escapes(quote(pair, safe=_QUERY_SAFE)))
    return "&".join(kept)


def _normalise_escapes(text: str) -> str:
    """Upper-cases percent escapes: %c3%a9 and %C3%A9 are the same byte (RFC 3986 6.2.2.1)."""
    return _PERCENT_ESCAPE.sub(lambda found: "%" + found.group(1).upper(), text)
