"""One product page: decoded once, its cheap parts (JSON-LD, head meta) read without a DOM,
the full HTML tree (Lexbor, through selectolax) built only when an extractor needs it."""

from __future__ import annotations

import html
import re
from functools import cached_property

from selectolax.lexbor import LexborHTMLParser, LexborNode

from adapters.extract.currencies import country_of, host_of

_CHARSET_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# The same patterns over text (pages in UTF-16/32) and over bytes (every other encoding keeps
# ASCII markup as ASCII bytes, so tags are found without decoding a page of a megabyte or two).
_JSONLD_SCRIPT = (
    r"""<script\b[^>]*\btype\s*=\s*["']?application/ld\+json["']?[^>]*>(.*?)</script\s*>"""
)
_META_TAG = r"<meta\b[^>]*>"
_LINK_TAG = r"<link\b[^>]*>"
_HTML_TAG = r"<html\b[^>]*>"
_TITLE = r"<title\b[^>]*>(.*?)</title\s*>"
_ATTRIBUTE = re.compile(r"""([^\s"'=<>/]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_WIDE_ENCODINGS = ("utf-16", "utf-32", "utf_16", "utf_32")
# Where platform and shop markers are looked for (see Page.marked): the start of the page
# and the <body> start tag, whatever the size of the head in between.
_TOP_BYTES = 64 * 1024
_BODY_TAG_BYTES = 4 * 1024


def _both(pattern: str, flags: int = re.I) -> tuple[re.Pattern[str], re.Pattern[bytes]]:
    return re.compile(pattern, flags), re.compile(pattern.encode("ascii"), flags)


_JSONLD_SCRIPTS = _both(_JSONLD_SCRIPT, re.I | re.S)
_META_TAGS = _both(_META_TAG)
_LINK_TAGS = _both(_LINK_TAG)
_HTML_TAGS = _both(_HTML_TAG)
_TITLES = _both(_TITLE, re.I | re.S)
# Every JSON-LD start tag holds "+json". A "+" is rare in markup (hundreds on a page against
# tens of thousands of "<"), so the regex engine jumps from "+" to "+" and the full script
# pattern is tried only at the few start tags around a hit.
_PLUS_JSON = re.compile(rb"\+[jJ][sS][oO][nN]")
# The regex engine finds this twice as fast as bytes.find in a page of a megabyte (it runs
# from "<" to "<"; find switches to its two-way search on long strings).
_HEAD_END = re.compile(rb"</head", re.I)


def attributes(tag: str) -> dict[str, str]:
    """Attributes of one start tag as a dict (names lower-cased, entities decoded)."""
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(tag):
        name = match.group(1).lower()
        value = next((g for g in match.groups()[1:] if g is not None), "")
        found.setdefault(name, html.unescape(value))
    return found


def _jsonld_scripts(body: bytes, pattern: re.Pattern[bytes]) -> list[bytes]:
    """What `pattern.finditer(body)` finds, searched from each "+json" instead of each "<".

    A script tag that matches starts at a "<" after the last ">" before its "+json" (its
    attributes hold no ">"), so only those "<" are tried, leftmost first."""
    found: list[bytes] = []
    end = 0  # matches never overlap: the next one starts after this
    for mark in _PLUS_JSON.finditer(body):
        at = mark.start()
        if at < end:
            continue
        tag = body.find(b"<", max(end, body.rfind(b">", end, at) + 1), at)
        while tag >= 0:
            match = pattern.match(body, tag)
            if match is not None:
                found.append(match.group(1))
                end = match.end()
                break
            tag = body.find(b"<", tag + 1, at)
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
        return self.decode(self.body)

    def decode(self, raw: bytes) -> str:
        """Bytes of this page as text: its encoding, else (for a page that claims UTF-8 but
        is not) windows-1252, else UTF-8 with replacement characters."""
        try:
            return raw.decode(self.encoding)
        except (UnicodeDecodeError, LookupError):
            if self.encoding == "utf-8":
                try:
                    return raw.decode("cp1252")
                except UnicodeDecodeError:
                    pass
            return raw.decode("utf-8", errors="replace")

    @cached_property
    def ascii_markup(self) -> bool:
        """Whether markup can be searched in the raw bytes (true for every encoding but
        UTF-16/32: ASCII characters are single ASCII bytes in all of them)."""
        return not self.encoding.lower().startswith(_WIDE_ENCODINGS)

    @cached_property
    def head_end(self) -> int:
        """Offset of the end of <head> in the body (200,000 when there is none)."""
        end = _HEAD_END.search(self.body)
        return end.start() if end is not None else 200_000

    @cached_property
    def head_text(self) -> str:
        """The decoded <head> only (for pages whose markup is not searchable as bytes)."""
        head = self.body[: self.head_end]
        try:
            return head.decode(self.encoding)
        except (UnicodeDecodeError, LookupError):
            return head.decode("utf-8", errors="replace")

    def _head_tags(self, patterns: tuple[re.Pattern[str], re.Pattern[bytes]]) -> list[str]:
        """Every match of a tag pattern in <head>, as text (group 1 when it has one)."""
        text_pattern, bytes_pattern = patterns
        group = 1 if text_pattern.groups else 0
        if not self.ascii_markup:
            return [m.group(group) for m in text_pattern.finditer(self.head_text)]
        found = bytes_pattern.finditer(self.body, 0, self.head_end)
        return [self.decode(m.group(group)) for m in found]

    @cached_property
    def jsonld_sources(self) -> list[str]:
        """Text of every <script type="application/ld+json"> on the page."""
        text_pattern, bytes_pattern = _JSONLD_SCRIPTS
        if not self.ascii_markup:
            return [m.group(1) for m in text_pattern.finditer(self.text)]
        # Found in the bytes; only the scripts' own contents are decoded.
        return [self.decode(script) for script in _jsonld_scripts(self.body, bytes_pattern)]

    @cached_property
    def meta(self) -> dict[str, list[str]]:
        """Content of the head's <meta> tags by property/name/itemprop (lower-cased)."""
        found: dict[str, list[str]] = {}
        for tag in self._head_tags(_META_TAGS):
            attrs = attributes(tag)
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
        for tag in self._head_tags(_LINK_TAGS):
            if "canonical" not in tag.lower():
                continue  # most links are stylesheets and preloads: not worth parsing
            attrs = attributes(tag)
            if attrs.get("rel", "").lower() == "canonical" and attrs.get("href"):
                return attrs["href"].strip()
        return None

    @cached_property
    def head_title(self) -> str | None:
        text_pattern, bytes_pattern = _TITLES
        if self.ascii_markup:
            match = bytes_pattern.search(self.body, 0, self.head_end)
            title = self.decode(match.group(1)) if match else None
        else:
            text_match = text_pattern.search(self.head_text)
            title = text_match.group(1) if text_match else None
        if title is None:
            return None
        return " ".join(html.unescape(title).split()) or None

    @cached_property
    def language(self) -> str | None:
        """Two-letter page language from <html lang>, og:locale or the Content-Language meta."""
        text_pattern, bytes_pattern = _HTML_TAGS
        if self.ascii_markup:
            match = bytes_pattern.search(self.body, 0, min(20_000, self.head_end))
            tag = self.decode(match.group(0)) if match else None
        else:
            text_match = text_pattern.search(self.head_text, 0, 20_000)
            tag = text_match.group(0) if text_match else None
        lang = attributes(tag).get("lang") if tag else None
        if not lang:
            lang = self.meta_first("og:locale", "content-language", "language")
        if not lang:
            return None
        return lang.replace("_", "-").split("-")[0].strip().lower()[:3] or None

    def marked(self, marker: bytes) -> bool:
        """Whether the top of the page or its <body> tag holds `marker`: where platforms and
        shops put their markers (asset hosts, analytics scripts, body classes). Not the whole
        page: one search through a page of a megabyte costs more than reading its JSON-LD."""
        body = self.body
        if body.find(marker, 0, _TOP_BYTES) >= 0:
            return True
        end = self.head_end
        return end > _TOP_BYTES and body.find(marker, end, end + _BODY_TAG_BYTES) >= 0

    @cached_property
    def document(self) -> LexborHTMLParser | None:
        """The whole page parsed as HTML5 (built once, on first use). Lexbor builds it in
        about a third of libxml2's time, which is most of what a page without structured
        data costs."""
        source: bytes | str = self.body
        if self.encoding != "utf-8":
            source = self.text  # Lexbor reads UTF-8 only
        else:
            try:
                self.body.decode("utf-8")
            except UnicodeDecodeError:
                source = self.text  # claims UTF-8 but is not: decoded as the text is
        try:
            return LexborHTMLParser(source)
        except (ValueError, RuntimeError):
            return None

    @cached_property
    def tree(self) -> LexborNode | None:
        """The root element of the page's tree, or None when the page cannot be parsed."""
        document = self.document
        return document.root if document is not None else None
