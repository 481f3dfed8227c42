"""Command-line entry point: `pricebot <command>` and `python -m bot <command>`."""

from __future__ import annotations

import argparse
import gc
import sys

# Reading one page makes tens of thousands of short-lived objects the cycle collector tracks
# (tree nodes, parsed JSON); at CPython's default threshold of 700 it ran about 1,900 times
# per 2,000 checks, some 5 % of a check cycle. Reference counting frees nearly all of them at
# once, so the collector can look far less often; cycles are still collected.
GC_THRESHOLDS = (50_000, 20, 20)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pricebot", description="Self-hosted price tracker bot")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="chat adapters with a token, plus scheduler and delivery")
    sub.add_parser("worker", help="scheduler and delivery only")
    sub.add_parser("chat", help="talk to the bot from the terminal as a private chat")
    sub.add_parser("demo", help="scripted session against a bundled local shop")
    sub.add_parser("check", help="one check cycle now, then exit")
    sub.add_parser("migrate", help="upgrade the database schema to the latest revision")
    extract = sub.add_parser("extract", help="extraction only; one JSON line per page")
    extract.add_argument("files", nargs="*", help="saved HTML files")
    extract.add_argument("--url", help="the address the file(s) came from")
    extract.add_argument("--manifest", help="JSON lines with file and url per page")
    extract.add_argument("--selector", help="CSS selector for the price")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    gc.set_threshold(*GC_THRESHOLDS)
    if args.command == "extract":
        from bot.extract_cli import run_extract

        return run_extract(args)
    from bot.commands_cli import run_command

    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
