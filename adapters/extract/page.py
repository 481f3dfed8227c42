"""One product page: decoded once, its cheap parts (JSON-LD, head meta) read without a DOM,
the full HTML tree (Lexbor, through selectolax) built only when an extractor needs it."""

from __future__ import annotations

import codecs
import html
import re
from functools import cached_property
from typing import AnyStr

from selectolax.lexbor import LexborDocumentOptions, LexborHTMLParser, LexborNode, SelectolaxError

from adapters.extract.currencies import country_of, host_of
from adapters.extract.markup_check import tree_is_affordable

# Start tags are matched with [^<>] between their name and their ">": a scan from one "<"
# then stops at the next "<", so searching a page is linear. With [^>] a page of 100,000
# "<meta " and no ">" makes every search run to the end from each of them (quadratic).
_CHARSET_META = re.compile(rb"""<meta[^<>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# The same patterns over text (pages in UTF-16/32) and over bytes (every other encoding keeps
# ASCII markup as ASCII bytes, so tags are found without decoding a page of a megabyte or two).
_JSONLD_START = r"""<script\b[^<>]*\btype\s*=\s*["']?application/ld\+json["']?[^<>]*>"""
SCRIPT_END = r"</script\s*>"
_META_TAG = r"<meta\b[^<>]*>"
_LINK_TAG = r"<link\b[^<>]*>"
_HTML_TAG = r"<html\b[^<>]*>"
_TITLE_START = r"<title\b[^<>]*>"
_TITLE_END = r"</title\s*>"
# An attribute name starts where the previous word ends (the look-behind), and possessive
# repeats never give back what they matched: a tag of 100,000 name characters and no "="
# is then read once, not once from each of its characters.
_ATTRIBUTE = re.compile(
    r"""(?<![^\s"'=<>/])([^\s"'=<>/]++)\s*+=\s*+(?:"([^"]*+)"|'([^']*+)'|([^\s"'>]++))"""
)
_WIDE_ENCODINGS = ("utf-16", "utf-32", "utf_16", "utf_32")
# Python codecs that read ASCII markup unchanged yet are no character set of web pages (one
# of them in a meta charset is a broken or hostile page, read as UTF-8 like browsers do).
_NOT_PAGE_CHARSETS = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "utf-7"}
)
# Markup every page character set reads as the same ASCII characters (UTF-16 and UTF-32 do
# not: a page declaring them in its markup is not in them, and is read as UTF-8).
_ASCII_PROBE = b"""<meta charset="x"> Aa0-9+-./\\;:_'"""
# Browsers read these as windows-1252 (WHATWG Encoding Standard); so do we.
_WINDOWS_1252_ALIASES = frozenset({"iso8859-1", "ascii"})
# Lexbor's DOM mutation events (option selectedness, <selectedcontent>) are not needed to read
# a page, and one select of 20,000 options costs seconds with them: quadratic.
_PARSE_OPTIONS = LexborDocumentOptions.WO_EVENTS
# Where platform and shop markers are looked for (see Page.marked): the start of the page
# and the <body> start tag, whatever the size of the head in between.
_TOP_BYTES = 64 * 1024
_BODY_TAG_BYTES = 4 * 1024


def _both(pattern: str, flags: int = re.I) -> tuple[re.Pattern[str], re.Pattern[bytes]]:
    return re.compile(pattern, flags), re.compile(pattern.encode("ascii"), flags)


_JSONLD_STARTS = _both(_JSONLD_START)
_SCRIPT_ENDS = _both(SCRIPT_END)
_META_TAGS = _both(_META_TAG)
_LINK_TAGS = _both(_LINK_TAG)
_HTML_TAGS = _both(_HTML_TAG)
_TITLE_STARTS = _both(_TITLE_START)
_TITLE_ENDS = _both(_TITLE_END)
# Every JSON-LD start tag holds "+json". A "+" is rare in markup (hundreds on a page against
# tens of thousands of "<"), so the regex engine jumps from "+" to "+" and the start tag
# pattern is tried only at the start tags around a hit.
_PLUS_JSONS = _both(r"\+[jJ][sS][oO][nN]", 0)
# The regex engine finds this twice as fast as bytes.find in a page of a megabyte (it runs
# from "<" to "<"; find switches to its two-way search on long strings).
_HEAD_END = re.compile(rb"</head", re.I)


def _page_charset(name: str) -> str | None:
    """The Python codec for a character set a page declares, when it is one web pages are
    written in: a text encoding (not rot13, zlib, base64...: Python's `_is_text_encoding`)
    that reads ASCII markup as ASCII (not punycode, idna, utf-7, utf-16...)."""
    try:
        codec = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(codec, "_is_text_encoding", True) or codec.name in _NOT_PAGE_CHARSETS:
        return None
    try:
        if _ASCII_PROBE.decode(codec.name) != _ASCII_PROBE.decode("ascii"):
            return None
    except (ValueError, LookupError, TypeError):
        return None
    return "cp1252" if codec.name in _WINDOWS_1252_ALIASES else codec.name


def attributes(tag: str) -> dict[str, str]:
    """Attributes of one start tag as a dict (names lower-cased, entities decoded)."""
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(tag):
        name = match.group(1).lower()
        value = next((g for g in match.groups()[1:] if g is not None), "")
        found.setdefault(name, html.unescape(value))
    return found


def _jsonld_scripts(
    text: AnyStr,
    marks: re.Pattern[AnyStr],
    starts: re.Pattern[AnyStr],
    ends: re.Pattern[AnyStr],
    lt: AnyStr,
) -> list[AnyStr]:
    """Contents of the JSON-LD scripts in `text` (bytes or str), searched from each "+json".

    A start tag holds no "<" (see _CHARSET_META), so the one that holds a "+json" begins at
    the last "<" before it; that "<" is looked for only back to the previous "+json" (before
    it, the previous search already looked), so the whole search reads the page once."""
    found: list[AnyStr] = []
    end = 0  # scripts never overlap: the next one starts after this
    searched = 0  # "<" before this offset were tried already
    for mark in marks.finditer(text):
        at = mark.start()
        if at < end:
            continue
        tag = text.rfind(lt, max(end, searched), at)
        searched = at
        start = starts.match(text, tag) if tag >= 0 else None
        if start is None or start.end() <= at:
            continue
        close = ends.search(text, start.end())
        if close is None:
            break  # no script is closed after this point: a later one is not either
        found.append(text[start.end() : close.start()])
        end = close.end()
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
        # Set when the page's markup is beyond what can be parsed in linear time: it then
        # has no tree, and what needs one finds nothing.
        self.too_complex = False

    @cached_property
    def encoding(self) -> str:
        """The Python codec the page's text is in: its byte-order mark, else the character set
        its markup declares when that is a real one, else UTF-8."""
        if self.body.startswith(b"\xef\xbb\xbf"):
            return "utf-8"
        if self.body.startswith((b"\xff\xfe", b"\xfe\xff")):
            return "utf-16"
        match = _CHARSET_META.search(self.body, 0, 4096)
        if match:
            return _page_charset(match.group(1).decode("ascii", "ignore")) or "utf-8"
        return "utf-8"

    @cached_property
    def text(self) -> str:
        return self.decode(self.body)

    def decode(self, raw: bytes) -> str:
        """Bytes of this page as text: its encoding, else (for a page that claims UTF-8 but
        is not) windows-1252, else UTF-8 with replacement characters. Never raises: codecs
        raise more than UnicodeDecodeError on bytes they cannot take (UnicodeError and
        plain ValueError; UnicodeError is one), and a codec may be missing (LookupError)."""
        try:
            return raw.decode(self.encoding)
        except (ValueError, LookupError):
            if self.encoding == "utf-8":
                try:
                    return raw.decode("cp1252")
                except (ValueError, LookupError):
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
        except (ValueError, LookupError):  # see decode()
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
        (text_marks, bytes_marks), (text_starts, bytes_starts), (text_ends, bytes_ends) = (
            _PLUS_JSONS,
            _JSONLD_STARTS,
            _SCRIPT_ENDS,
        )
        if not self.ascii_markup:
            return _jsonld_scripts(self.text, text_marks, text_starts, text_ends, "<")
        # Found in the bytes; only the scripts' own contents are decoded.
        scripts = _jsonld_scripts(self.body, bytes_marks, bytes_starts, bytes_ends, b"<")
        return [self.decode(script) for script in scripts]

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
        # The first <title> start tag, then the first end tag after it: two searches, where one
        # pattern would search to the end of the head again from every unclosed <title>.
        (text_starts, bytes_starts), (text_ends, bytes_ends) = _TITLE_STARTS, _TITLE_ENDS
        title: str | None = None
        if self.ascii_markup:
            start = bytes_starts.search(self.body, 0, self.head_end)
            end = bytes_ends.search(self.body, start.end(), self.head_end) if start else None
            if start and end:
                title = self.decode(self.body[start.end() : end.start()])
        else:
            head = self.head_text
            text_start = text_starts.search(head)
            text_end = text_ends.search(head, text_start.end()) if text_start else None
            if text_start and text_end:
                title = head[text_start.end() : text_end.start()]
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
            except ValueError:
                source = self.text  # claims UTF-8 but is not: decoded as the text is
        if not tree_is_affordable(source):
            self.too_complex = True
            return None
        try:
            return LexborHTMLParser(source, options=_PARSE_OPTIONS)
        except (ValueError, RuntimeError, SelectolaxError):
            return None

    @cached_property
    def tree(self) -> LexborNode | None:
        """The root element of the page's tree, or None when the page cannot be parsed."""
        document = self.document
        return document.root if document is not None else None
