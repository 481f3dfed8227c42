"""`pricebot extract`: one JSON line per page, failures reported per page, never fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.__main__ import build_parser, main

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict]]:
    code = main(["extract", *argv])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_manifest_runs_every_page_and_a_failing_page_does_not_stop_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.jsonl"
    entries = [
        {"file": str(PAGES / "jsonld_graph.html"), "url": "https://fietsenwinkel.example.nl/b"},
        {"file": str(tmp_path / "missing.html"), "url": "https://shop.example.com/gone"},
        {"file": str(PAGES / "jsonld_variants_ambiguous.html"), "url": "https://t.example/s"},
        {"file": str(PAGES / "no_price_article.html"), "url": "https://j.example/a"},
        {
            "file": str(PAGES / "amazon_co_uk_out_of_stock.html"),
            "url": "https://www.amazon.co.uk/dp/B1",
        },
    ]
    manifest.write_text("\n".join(json.dumps(e) for e in entries) + "\n\n", encoding="utf-8")
    code, rows = _run(["--manifest", str(manifest)], capsys)
    assert code == 0
    assert [row["file"] for row in rows] == [e["file"] for e in entries]
    good, missing, ambiguous, article, sold_out = rows
    assert good == {
        "file": entries[0]["file"],
        "url": entries[0]["url"],
        "price": "12.95",
        "currency": "EUR",
        "availability": "InStock",
        "title": "Fietsbel Classic Messing",
        "method": "jsonld",
    }
    assert missing["error"] == "unreadable" and missing["price"] is None
    assert ambiguous["error"] == "ambiguous_price" and ambiguous["price"] is None
    assert article["error"] == "no_price"
    # Sold out without a price: a row like any other, price null.
    assert "error" not in sold_out
    assert sold_out["availability"] == "OutOfStock"
    assert sold_out["price"] is None and sold_out["currency"] is None
    assert sold_out["method"] == "site:amazon"


def test_files_with_url_and_selector(capsys: pytest.CaptureFixture[str]) -> None:
    page = str(PAGES / "selector_member_price.html")
    code, rows = _run(
        [page, "--url", "https://roastery.example.co.uk/e", "--selector", ".member-price"], capsys
    )
    assert code == 0
    assert rows[0]["price"] == "27.20"
    assert rows[0]["method"] == "selector"


def test_price_is_a_string_and_unknown_availability_is_null(
    capsys: pytest.CaptureFixture[str],
) -> None:
    page = str(PAGES / "jsonld_low_price_only.html")
    _, rows = _run([page, "--url", "https://outbackgear.example.com.au/c"], capsys)
    assert rows[0]["price"] == "49.95"
    assert isinstance(rows[0]["price"], str)


def test_no_pages_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract"]) == 2
    assert "give FILE" in capsys.readouterr().err


def test_unreadable_manifest_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    assert main(["extract", "--manifest", str(bad)]) == 2
    assert main(["extract", "--manifest", str(tmp_path / "absent.jsonl")]) == 2


def test_parser_has_the_documented_options() -> None:
    args = build_parser().parse_args(["extract", "a.html", "--url", "u", "--selector", ".p"])
    assert (args.files, args.url, args.selector, args.manifest) == (["a.html"], "u", ".p", None)
