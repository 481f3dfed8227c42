"""The page tree helpers: visible text, element identity, relatives, the one-pass scan."""

from __future__ import annotations

from decimal import Decimal

from adapters.extract import extract_observation
from adapters.extract.page import Page
from adapters.extract.scan import microdata_elements, scan, scan_region
from adapters.extract.selector import is_valid
from adapters.extract.text import (
    element_text,
    next_element,
    parent_of,
    previous_element,
    same,
    text_after,
)

URL = "https://shop.example/p/1"


def _page(html: str) -> Page:
    return Page(html.encode("utf-8"), URL)


def test_visible_text_leaves_out_scripts_styles_and_templates() -> None:
    page = _page(
        "<div id=x> Price: <b>12,99</b> €<script>var price = 99;</script>"
        "<style>.a{}</style><template>13,99</template><svg><text>1</text></svg>\n now </div>"
    )
    assert page.tree is not None
    element = page.tree.css_first("#x")
    assert element is not None
    assert element_text(element) == "Price: 12,99 € now"


def test_visible_text_is_cut_at_the_limit() -> None:
    page = _page("<p id=x>" + "word " * 100 + "</p>")
    assert page.tree is not None
    element = page.tree.css_first("#x")
    assert element is not None
    assert len(element_text(element, 20)) == 20


def test_look_alike_elements_are_different_elements() -> None:
    # selectolax's == compares serialised HTML: two identical spans would be "equal".
    page = _page("<div><span class=p>10</span><span class=p>10</span></div>")
    assert page.tree is not None
    first, second = page.tree.css("span")
    assert first == second  # the library's comparison, which the extractor must not use
    assert not same(first, second)
    assert same(first, page.tree.css("span")[0])
    assert same(None, None) and not same(first, None)


def test_relatives_skip_text_and_comments() -> None:
    page = _page("<div><b>1</b> tail <!-- c --> <i>2</i></div>")
    assert page.tree is not None
    bold, italic = page.tree.css_first("b"), page.tree.css_first("i")
    assert bold is not None and italic is not None
    assert same(next_element(bold), italic)
    assert same(previous_element(italic), bold)
    assert text_after(bold).strip() == "tail"
    assert parent_of(page.tree) is None  # the root's parent is the document, not an element


def test_scan_sorts_named_elements_into_buckets_once() -> None:
    page = _page(
        "<main><h1>Kettle</h1>"
        "<span class='price' id='main-price'>£20</span>"  # class and id both match: once
        "<p class='stock-status'>In stock</p>"
        "<button class='add-to-cart'>Add</button>"
        "<div class='padding'>no bucket</div></main>"
    )
    found = scan(page)
    assert [e.attrs.get("class") for e in found.prices] == ["price"]
    assert [e.attrs.get("class") for e in found.stock_labels] == ["stock-status"]
    assert [e.attrs.get("class") for e in found.buy_buttons] == ["add-to-cart"]
    assert [element_text(e) for e in found.headings] == ["Kettle"]


def test_class_words_remembered_across_pages_give_the_same_answers() -> None:
    """Class and id strings are classified once per process (bounded); a page read with
    every string already known is sorted exactly as one read from scratch."""
    from adapters.extract import scan as scan_module

    markup = "".join(f"<span class='c{i} price'>{i}</span>" for i in range(30))
    scan_module._classify.cache_clear()
    cold = [element_text(e) for e in scan(_page(markup)).prices]
    assert scan_module._classify.cache_info().misses == 30
    warm = [element_text(e) for e in scan(_page(markup)).prices]
    assert scan_module._classify.cache_info().hits >= 30
    assert cold == warm == [str(i) for i in range(30)]
    assert scan_module._classify.cache_info().maxsize == 50_000


def test_region_scan_includes_the_region_itself() -> None:
    page = _page(
        "<div class='price-box' id=r><span class='price'>5</span></div><span class='price'>9</span>"
    )
    assert page.tree is not None
    region = page.tree.css_first("#r")
    assert region is not None
    found = scan_region(page, region)
    assert [element_text(e) for e in found.prices] == ["5", "5"]


def test_region_headings_and_buttons_are_the_regions_own_whichever_scan_ran_first() -> None:
    markup = (
        "<h1>Other</h1><button>Other</button>"
        "<section id=r><h1>Kettle</h1><input value=Qty><button class=buy-now>Buy</button>"
        "</section><button>Later</button>"
    )
    read: dict[str, list[list[str]]] = {}
    for order in ("region first", "page first"):
        page = _page(markup)
        assert page.tree is not None
        region = page.tree.css_first("#r")
        assert region is not None
        if order == "page first":
            assert len(scan(page).buttons) == 4
        found = scan_region(page, region)
        read[order] = [
            [element_text(e) for e in found.headings],
            [e.tag or "" for e in found.buttons],
            [element_text(e) for e in found.buy_buttons],
        ]
    assert read["region first"] == read["page first"] == [["Kettle"], ["input", "button"], ["Buy"]]


def test_microdata_on_the_root_element_is_found() -> None:
    page = _page(
        "<html itemscope itemtype='https://schema.org/Product'><body>"
        "<span itemprop=name>Mug</span></body></html>"
    )
    elements = microdata_elements(page)
    assert elements[0].tag == "html"
    assert [e.tag for e in elements] == ["html", "span"]


def test_page_claiming_utf8_but_written_in_windows_1252_keeps_its_currency() -> None:
    body = "<html><body><h1>Mug</h1><span class=price>12,50 \u20ac</span>".encode("cp1252")
    observation = extract_observation(body, URL)
    assert observation.price == Decimal("12.50")
    assert observation.currency == "EUR"


def test_selectors_are_checked_before_use() -> None:
    assert is_valid("div.price > span")
    assert not is_valid("div >")
    assert not is_valid("span[")
    assert not is_valid("  ")
