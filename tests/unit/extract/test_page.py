"""Page views read without a DOM: the JSON-LD scripts found in the raw bytes."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from adapters.extract.page import Page

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
# The plain reading: a JSON-LD start tag (holding no "<", as every tag pattern of the page
# reads them), then everything up to the first end tag.
SCRIPT_PATTERN = re.compile(
    rb"""<script\b[^<>]*\btype\s*=\s*["']?application/ld\+json["']?[^<>]*>(.*?)</script\s*>""",
    re.I | re.S,
)


def _every_match(body: bytes) -> list[str]:
    """The plain reading the page's faster search must agree with."""
    return [m.group(1).decode("utf-8") for m in SCRIPT_PATTERN.finditer(body)]


def _sources(body: bytes) -> list[str]:
    return Page(body, "https://shop.example/p/1").jsonld_sources


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ('<script type="application/ld+json">{"a":1}</script>', ['{"a":1}']),
        ("<SCRIPT TYPE='APPLICATION/LD+JSON'>{}</SCRIPT >", ["{}"]),
        ("<script type=application/ld+json>[1]</script><p>x</p>", ["[1]"]),
        # Two start tags before one ">": the second is the tag (a tag holds no "<").
        ('<script <script type="application/ld+json">{}</script>', ["{}"]),
        # "+json" elsewhere: in a script's code, in another attribute, in another type.
        ('<script>var t = "application/ld+json";</script><p>+json</p>', []),
        ('<a data-x="ld+json">x</a><script type="application/ld+json">{}</script>', ["{}"]),
        ('<script type="application/vnd.api+json">{}</script>', []),
        # A "+json" inside a script that matched is part of that script, not a new one.
        ('<script type="application/ld+json">{"t":"x+json"}</script>', ['{"t":"x+json"}']),
        ('<script type="application/ld+json">{"never closed": 1}', []),
        ("", []),
    ],
)
def test_json_ld_scripts_in_the_bytes(markup: str, expected: list[str]) -> None:
    body = markup.encode("utf-8")
    assert _sources(body) == expected == _every_match(body)


def test_json_ld_search_agrees_with_a_scan_from_every_tag_on_generated_markup() -> None:
    pieces = [
        "<script", "<SCRIPT", " type=", "type=", '"', "'", "application/ld+json",
        "Application/LD+JSON", "+json", "+JSON", ">", "<", "</script>", "</SCRIPT >", "{}",
        " ", "x", "<script type=application/ld+json>", "<div>", "ld", "+", "\n", "</script",
        "<scripty ", "data-type=",
    ]  # fmt: skip
    generator = random.Random(20261122)
    found = 0
    for _ in range(20_000):
        body = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 30)))
        expected = _every_match(body.encode("utf-8"))
        assert _sources(body.encode("utf-8")) == expected, body
        found += len(expected)
    assert found > 1_000  # the generated markup does hold scripts to find


def test_json_ld_search_agrees_with_a_scan_from_every_tag_on_saved_pages() -> None:
    bodies = [path.read_bytes() for path in sorted(FIXTURES.rglob("*.html"))]
    assert bodies, f"no saved pages under {FIXTURES}"
    scripts = 0
    for body in bodies:
        page = Page(body, "https://shop.example/p/1")
        if not page.ascii_markup:
            continue
        expected = [page.decode(m.group(1)) for m in SCRIPT_PATTERN.finditer(body)]
        assert page.jsonld_sources == expected
        scripts += len(expected)
    assert scripts > 0


@pytest.mark.parametrize(
    ("markup", "end"),
    [
        ("<html><head><title>x</title></head><body>", 28),
        ("<HTML><HEAD><TITLE>x</TITLE></HEAD><BODY>", 28),
        ("<html><head><title>x</title></Head ><body></head>", 28),
        ("<p>no head at all</p>", 200_000),
    ],
)
def test_end_of_head_in_any_case(markup: str, end: int) -> None:
    assert Page(markup.encode("ascii"), "https://shop.example/p/1").head_end == end
