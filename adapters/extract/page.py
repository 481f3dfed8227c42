"""One product page: decoded once, its cheap parts (JSON-LD, head meta) read without a DOM,
the full lxml tree built only when an extractor needs it."""

from __future__ import annotations

import html
import re
from functools import cached_property

from lxml import etree

from adapters.extract.currencies import country_of, host_of

_CHARSET_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_JSONLD_SCRIPT = re.compile(
    r"""<script\b[^>]*\btype\s*=\s*["']?application/ld\+json["']?[^>]*>(.*?)</script\s*>""",
    re.I | re.S,
)
_META_TAG = re.compile(r"<meta\b[^>]*>", re.I)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.I)
_ATTRIBUTE = re.compile(r"""([^\s"'=<>/]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_HTML_TAG = re.compile(r"<html\b[^>]*>", re.I)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.I | re.S)
_PARSERS: dict[str, etree.HTMLParser] = {}


def _parser(encoding: str) -> etree.HTMLParser:
    # One parser per encoding: lxml parsers are reusable, and building one costs more than
    # parsing a small page.
    parser = _PARSERS.get(encoding)
    if parser is None:
        parser = etree.HTMLParser(encoding=encoding, no_network=True, remove_comments=True)
        _PARSERS[encoding] = parser
    return parser


def attributes(tag: str) -> dict[str, str]:
    """Attributes of one start tag as a dict (names lower-cased, entities decoded)."""
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(tag):
        name = match.group(1).lower()
        value = next((g for g in match.groups()[1:] if g is not None), "")
        found.setdefault(name, html.unescape(value))
    return found


class Page:
    """The bytes of a page and its address, with lazily computed views over them."""

    def __init__(self, body: bytes, url: str) -> None:
        self.body = body
        self.url = url
        self.host = host_of(url)
        self.country = country_of(url)
        # Results other modules compute once per page (parsed JSON-LD blocks...).
        self.cache: dict[object, object] = {}

    @cached_property
    def encoding(self) -> str:
        if self.body.startswith(b"\xef\xbb\xbf"):
            return "utf-8"
        if self.body.startswith((b"\xff\xfe", b"\xfe\xff")):
            return "utf-16"
        match = _CHARSET_META.search(self.body, 0, 4096)
        if match:
            name = match.group(1).decode("ascii", "ignore").lower()
            try:
                "".encode(name)
            except LookupError:
                return "utf-8"
            # Browsers read "iso-8859-1" as windows-1252; so do we.
            return "cp1252" if name in {"iso-8859-1", "latin-1", "latin1", "us-ascii"} else name
        return "utf-8"

    @cached_property
    def text(self) -> str:
        try:
            return self.body.decode(self.encoding)
        except (UnicodeDecodeError, LookupError):
            if self.encoding == "utf-8":
                try:
                    return self.body.decode("cp1252")
                except UnicodeDecodeError:
                    pass
            return self.body.decode("utf-8", errors="replace")

    @cached_property
    def head_text(self) -> str:
        """The decoded <head> only: meta tags and the title are read without decoding a
        page of a megabyte or two."""
        end = self.body.find(b"</head")
        if end < 0:
            end = self.body.find(b"</HEAD")
        head = self.body[: end if end >= 0 else 200_000]
        try:
            return head.decode(self.encoding)
        except (UnicodeDecodeError, LookupError):
            return head.decode("utf-8", errors="replace")

    @cached_property
    def jsonld_sources(self) -> list[str]:
        """Text of every <script type="application/ld+json"> on the page."""
        return [m.group(1) for m in _JSONLD_SCRIPT.finditer(self.text)]

    @cached_property
    def meta(self) -> dict[str, list[str]]:
        """Content of the head's <meta> tags by property/name/itemprop (lower-cased)."""
        found: dict[str, list[str]] = {}
        for match in _META_TAG.finditer(self.head_text):
            attrs = attributes(match.group(0))
            content = attrs.get("content")
            if content is None:
                continue
            for key in ("property", "name", "itemprop", "http-equiv"):
                name = attrs.get(key)
                if name:
                    found.setdefault(name.strip().lower(), []).append(content.strip())
        return found

    def meta_first(self, *names: str) -> str | None:
        for name in names:
            values = self.meta.get(name)
            if values and values[0]:
                return values[0]
        return None

    @cached_property
    def canonical_link(self) -> str | None:
        for match in _LINK_TAG.finditer(self.head_text):
            attrs = attributes(match.group(0))
            if attrs.get("rel", "").lower() == "canonical" and attrs.get("href"):
                return attrs["href"].strip()
        return None

    @cached_property
    def head_title(self) -> str | None:
        match = _TITLE.search(self.head_text)
        if not match:
            return None
        return " ".join(html.unescape(match.group(1)).split()) or None

    @cached_property
    def language(self) -> str | None:
        """Two-letter page language from <html lang>, og:locale or the Content-Language meta."""
        match = _HTML_TAG.search(self.head_text, 0, 20_000)
        lang = attributes(match.group(0)).get("lang") if match else None
        if not lang:
            lang = self.meta_first("og:locale", "content-language", "language")
        if not lang:
            return None
        return lang.replace("_", "-").split("-")[0].strip().lower()[:3] or None

    @cached_property
    def tree(self) -> etree._Element | None:
        """The whole page as an lxml tree (built once, on first use)."""
        try:
            root = etree.fromstring(self.body, _parser(self.encoding))
        except (etree.ParserError, etree.XMLSyntaxError, ValueError, LookupError):
            root = None
        if root is None:
            try:
                root = etree.fromstring(self.text.encode("utf-8"), _parser("utf-8"))
            except (etree.ParserError, etree.XMLSyntaxError, ValueError):
                return None
        return root
