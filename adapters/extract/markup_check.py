"""A linear look at a page's markup before Lexbor builds its tree, which would not be linear.

Lexbor's HTML5 tree builder caps no depth (selectolax 1.0.2, mutation events off): 200,000
nested <div>s (1 MB) take 94 s to parse; 20,000 nested elements 0.4 s, 40,000 3 s: block
start tags walk the whole stack of open elements. Formatting elements cost more: 20,000
unclosed <b id=n> 2.6 s, and <div><b id=n></div> repeated makes it re-open every earlier
<b> at each new one (4,000 times, 87 KB: 8 million elements, 10 s, 2.9 GB). The parse runs
in C without the GIL and cannot be interrupted, so a big page's markup is first run through
a model of the tree builder's stack and formatting list, and a page whose tree would cost
more than any product page needs is not parsed. The model costs about 1.3 us per tag (five
times the parse), so pages of up to UNSIMULATED_TAGS tags are parsed without it unless the
deadline is too near for the worst such markup. It cannot be afforded on every page, and
below that size formatting elements can still pile up (the 87 KB page above has 12,000 tags):
a page's tree is only bounded in time and memory when a process limit bounds it.
"""

from __future__ import annotations

import re
from typing import AnyStr

from adapters.extract.budget import CHECK_EVERY, check, remaining

# Up to this many "<" a page is parsed without a look when the deadline allows (see
# _worst_parse_seconds): nesting alone cannot cost more than 3 s (40,000 nested elements),
# and the biggest real product pages hold about 32,000 (the model would add 40 ms to each).
# Formatting elements that pile up can cost more below it.
UNSIMULATED_TAGS = 40_000
# More "<" than this is no product page: not parsed.
MAX_TAGS = 250_000
# Tree-builder work a page may cost, in elements walked past in the stack of open elements
# (1 to 2 ns each) and comparisons of a new formatting element's attributes with the listed
# ones (counted ten each: they cost that much more): 0.1 to 0.2 s. The biggest real pages
# cost 210,000.
MAX_WORK = 50_000_000
_COMPARISON_WORK = 10
# Formatting elements the parser may re-open after their parent closed them (each re-opening
# makes a node of 300+ bytes): about 30 MB.
MAX_REOPENED = 100_000

_FORMATTING = frozenset("a b big code em font i nobr s small strike strong tt u".split())
# Elements whose content is text, not markup (outside SVG and MathML).
_RAW_TEXT = frozenset("script style textarea title xmp iframe noembed noframes".split())
_VOID = frozenset(
    "area base br col embed hr img input link meta source track wbr param keygen frame "
    "basefont bgsound".split()
)
# End tags of most elements look no further down the stack than these ("scope"); they are
# also the markers of the list of formatting elements.
_SCOPE = frozenset("html table td th caption template applet object marquee".split())
# HTML's "special" elements: the end tag of an ordinary element stops at them (and is then
# ignored), and that of a formatting element leaves them open (the adoption agency).
_SPECIAL = _SCOPE | frozenset(
    "address area article aside base basefont bgsound blockquote body br button center col "
    "colgroup dd details dir div dl dt embed fieldset figcaption figure footer form frame "
    "frameset h1 h2 h3 h4 h5 h6 head header hgroup hr iframe img input keygen li link listing "
    "main menu meta nav noembed noframes noscript ol p param plaintext pre script search "
    "section select source style summary tbody textarea tfoot thead title tr track ul wbr "
    "xmp".split()
)
# Start tags that close an open <p> (when no scope boundary or button is above it).
_CLOSES_P = frozenset(
    "address article aside blockquote center details dialog dir div dl fieldset figcaption "
    "figure footer header hgroup main menu nav ol p search section summary ul h1 h2 h3 h4 h5 "
    "h6 pre listing form table hr xmp dd dt li".split()
)
# Start tags that close an open element of the same name right above them (<li><li>).
_SIBLINGS = frozenset("p li option optgroup dd dt".split())
# Start tags before which the parser does not re-open closed formatting elements (the
# others, and text, do).
_NO_REOPENING = _CLOSES_P | frozenset(
    "html head body base link meta script style title noscript template frameset table "
    "caption colgroup col tbody thead tfoot tr td th option optgroup".split()
)
# End tags whose element is out of reach past more than the scope boundaries.
_MORE_BOUNDARIES = {"li": ("ul", "ol"), "p": ("button",)}
# Table parts: their end tags reach through open cells, and a new row or cell closes the
# open one (tables without </td> are common).
_TABLE_PARTS = frozenset("tbody thead tfoot tr td th".split())
_FOREIGN = ("svg", "math")

# One tag as HTML's tokenizer reads it: a quote opens a value only right after "=", the tag
# ends at the first ">" outside such a value, and every repeat is possessive, so a match
# attempt reads on from one "<" once. A "<" that starts no complete tag matches alone.
_WS = r"\t\n\f\r "
_TAG = (
    rf"<(?:(/?)([A-Za-z][^{_WS}/>]*+)"
    rf"(?:[{_WS}/]++|(?:=|[^{_WS}/>=])[^{_WS}/>=]*+"
    rf"""(?:[{_WS}]*+=[{_WS}]*+(?:"[^"]*+"|'[^']*+'|[^{_WS}>"'][^{_WS}>]*+)?)?)*+>"""
    r"|(!--)|([!?])|)"
)
_TAGS = (re.compile(_TAG), re.compile(_TAG.encode("ascii")))
# Where a comment ends: at once ("<!-->", "<!--->") or at "-->" or "--!>".
_ABRUPT_COMMENT_END = (re.compile("-?>"), re.compile(b"-?>"))
_COMMENT_END = (re.compile("--!?>"), re.compile(b"--!?>"))


def tree_is_affordable(source: str | bytes) -> bool:
    """Whether Lexbor can build the tree of `source` in linear time and memory."""
    tags = source.count("<" if isinstance(source, str) else b"<")  # type: ignore[arg-type]
    if tags > MAX_TAGS:
        return False
    if tags <= UNSIMULATED_TAGS:
        left = remaining()
        if left is None or _worst_parse_seconds(tags) <= left:
            return True
    return simulate(source).affordable


def _worst_parse_seconds(tags: int) -> float:
    """The longest Lexbor takes to parse markup of `tags` tags nested as deep as they go:
    measured 0.39 s for 20,000, 1.4 s for 30,000, 3.2 s for 40,000 (cubic: cache misses)."""
    return 0.4 * (tags / 20_000) ** 3


class Stack:
    """The tree builder's stack of open elements and list of formatting elements, with the
    work they make. Each step is constant time (amortised): the positions of each name, of
    the scope boundaries and of the special elements are kept as the stack changes."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.positions: dict[str, list[int]] = {}
        self.scopes: list[int] = []
        self.specials: list[int] = []
        # The list of formatting elements (name and attributes; at most three alike), where
        # its markers are, and how many of its latest entries are closed (by a parent).
        self.formatting: list[str] = []
        self.listed: dict[str, int] = {}
        self.markers: list[int] = []
        self.closed_formatting = 0
        self.work = 0
        self.reopened = 0
        self.tags = 0  # tags read so far

    @property
    def affordable(self) -> bool:
        return self.work <= MAX_WORK and self.reopened <= MAX_REOPENED

    @property
    def foreign(self) -> bool:
        return any(self.positions.get(name) for name in _FOREIGN)

    @property
    def since_marker(self) -> int:
        return len(self.formatting) - (self.markers[-1] + 1 if self.markers else 0)

    def last(self, name: str) -> int:
        where = self.positions.get(name)
        return where[-1] if where else -1

    def push(self, name: str) -> None:
        index = len(self.names)
        self.names.append(name)
        self.positions.setdefault(name, []).append(index)
        if name in _SPECIAL:
            self.specials.append(index)
            if name in _SCOPE:
                self.scopes.append(index)

    def pop_to(self, index: int) -> None:
        """Pops the element at `index` and every element above it."""
        while len(self.names) > index:
            name = self.names.pop()
            at = len(self.names)
            self.positions[name].pop()
            if self.specials and self.specials[-1] == at:
                self.specials.pop()
                if self.scopes and self.scopes[-1] == at:
                    self.scopes.pop()
                    self._clear_to_marker()
            elif name in _FORMATTING and at > index:
                # Closed by an ancestor's end: still listed, to be re-opened.
                self.closed_formatting = min(self.closed_formatting + 1, self.since_marker)

    def text(self) -> None:
        self.reopen()

    def reopen(self) -> None:
        """Text or an inline tag after formatting elements an ancestor closed: the parser
        opens a copy of each again (and an ancestor's end closes them again...)."""
        if self.closed_formatting:
            reopened = self.formatting[-self.closed_formatting :]
            self.closed_formatting = 0
            self.reopened += len(reopened)
            for entry in reopened:
                self.push(entry.split(" ", 1)[0])

    def start(self, name: str, attributes: str) -> None:
        if name not in _NO_REOPENING:
            self.reopen()
        if name in _VOID:
            return
        self._close_implied(name)
        if name in _FORMATTING:
            # Compared with each listed one since the marker (at most three alike stay).
            self.work += self.since_marker * _COMPARISON_WORK
            entry = f"{name} {attributes}"
            if self.listed.get(entry, 0) < 3:
                self.formatting.append(entry)
                self.listed[entry] = self.listed.get(entry, 0) + 1
        elif name in _SCOPE:
            self.markers.append(len(self.formatting))
            self.formatting.append("")
        self.push(name)
        self.work += len(self.names)  # the walk a block start tag makes through the stack

    def _close_implied(self, name: str) -> None:
        """Pops what a start tag closes: an open <p>, the same element right above, or the
        open cell and row of a table."""
        if name in _CLOSES_P:
            at = self.last("p")
            if at >= 0 and not _above(at, self.scopes) and self.last("button") < at:
                self.pop_to(at)
        if name in _SIBLINGS and self.names and self.names[-1] == name:
            self.pop_to(len(self.names) - 1)
        elif name in _TABLE_PARTS:
            table = self.last("table")
            open_parts = [self.last("td"), self.last("th")]
            if name != "td" and name != "th":
                open_parts.append(self.last("tr"))
            inside = [at for at in open_parts if at > table]
            if inside:
                self.pop_to(min(inside))

    def end(self, name: str) -> None:
        depth = len(self.names)
        index = self.last(name)
        if index < 0:
            self.work += depth  # walked the whole stack looking for it
            return
        if name in _FORMATTING:
            if _above(index, self.scopes):
                self.work += depth - self.scopes[-1]
                return  # not in scope: ignored
            self.work += depth - index
            if _above(index, self.specials):
                return  # the adoption agency: a copy takes its place, as deep
            self.pop_to(index)
            self._unlist(name)
            return
        if name not in _SPECIAL:
            stops = self.specials  # an ordinary end tag stops at any special element
        elif name in _TABLE_PARTS or name == "table":
            stops = sorted(at for at in (self.last("table"), self.last("template")) if at >= 0)
        else:
            extra = [self.last(other) for other in _MORE_BOUNDARIES.get(name, ())]
            stops = sorted([*self.scopes[-1:], *extra]) if extra else self.scopes
        if _above(index, stops):
            self.work += depth - stops[-1]
            return  # out of reach: the end tag is ignored
        self.work += depth - index
        self.pop_to(index)

    def _unlist(self, name: str) -> None:
        """Removes the latest list entry of element `name` after the last marker."""
        first = self.markers[-1] + 1 if self.markers else 0
        for index in range(len(self.formatting) - 1, first - 1, -1):
            self.work += 1
            entry = self.formatting[index]
            if entry.split(" ", 1)[0] == name:
                del self.formatting[index]
                self.listed[entry] -= 1
                self.closed_formatting = min(self.closed_formatting, self.since_marker)
                return

    def _clear_to_marker(self) -> None:
        """A scope boundary closed: the list loses its marker and every entry after it."""
        if not self.markers:
            return
        first = self.markers.pop()
        for entry in self.formatting[first + 1 :]:
            self.listed[entry] -= 1
        del self.formatting[first:]
        self.closed_formatting = min(self.closed_formatting, self.since_marker)


def _above(index: int, positions: list[int]) -> bool:
    """Whether the last of `positions` (kept in order) is above stack position `index`."""
    return bool(positions) and positions[-1] > index


def simulate(source: AnyStr) -> Stack:
    """Runs `source`'s tags through a Stack until the end, or until it proves too costly.
    It errs on the costly side: it reads every tag Lexbor reads, and may read more."""
    text_form = isinstance(source, str)
    tags = _TAGS[0 if text_form else 1]
    abrupt_end = _ABRUPT_COMMENT_END[0 if text_form else 1]
    comment_end = _COMMENT_END[0 if text_form else 1]
    stack = Stack()
    names: dict[str | bytes, str] = {}  # tag names as written -> lower-case text
    position = 0
    while True:
        match = tags.search(source, position)  # type: ignore[arg-type]
        if match is None:
            break
        stack.tags += 1
        if not stack.tags % CHECK_EVERY:
            check()
            if not stack.affordable:
                break
        if match.start() > position:
            stack.text()
        position = match.end()
        closing, raw_name, comment, bogus = match.groups()
        if raw_name is not None:
            name = names.get(raw_name)
            if name is None:
                name = names[raw_name] = _text(raw_name).lower()
            if closing:
                stack.end(name)
                continue
            attributes = ""
            if name in _FORMATTING:  # the attributes tell alike formatting elements apart
                attributes = _text(source[match.start() + 1 + len(raw_name) : position])
            stack.start(name, attributes)
            if name in _RAW_TEXT and not stack.foreign:
                end = _raw_text_end(source, position, name)
                if end < 0:
                    break  # the rest of the page is this element's text
                stack.pop_to(len(stack.names) - 1)
                position = end
        elif comment is not None:
            abrupt = abrupt_end.match(source, position)  # type: ignore[arg-type]
            end_match = abrupt or comment_end.search(source, position)  # type: ignore[arg-type]
            if end_match is None:
                break  # the rest of the page is a comment
            position = end_match.end()
        elif bogus is not None:
            end = source.find(">" if text_form else b">", position)  # type: ignore[arg-type]
            if end < 0:
                break
            position = end + 1
        elif _starts_tag(source[position : position + 2]):
            break  # a tag that never ends: the rest of the page is inside it
    return stack


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _starts_tag(after: str | bytes) -> bool:
    """Whether the characters after a "<" start a tag name (or an end tag's)."""
    text = _text(after)
    if text[:1] == "/":
        text = text[1:]
    return text[:1].isascii() and text[:1].isalpha()


def _raw_text_end(source: AnyStr, position: int, name: str) -> int:
    """Offset just after the end tag that closes raw text element `name`, reading from
    `position`; -1 when the element runs to the end of the page."""
    text_form = isinstance(source, str)
    end_tag = "</" if text_form else b"</"
    at = source.find(end_tag, position)  # type: ignore[arg-type]
    while at >= 0:
        after = at + 2 + len(name)
        follower = _text(source[after : after + 1])
        if _text(source[at + 2 : after]).lower() == name and follower in ("", *"\t\n\f\r />"):
            close = source.find(">" if text_form else b">", after)  # type: ignore[arg-type]
            return close + 1 if close >= 0 else len(source)
        at = source.find(end_tag, at + 2)  # type: ignore[arg-type]
    return -1
