"""A tiny sample shop served on 127.0.0.1 for the demo and tests: prices can be changed live."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from string import Template


@dataclass(slots=True)
class ShopItem:
    template: str
    price: Decimal
    in_stock: bool = True


DEFAULT_ITEMS = {
    "kettle": ShopItem("kettle.html", Decimal("49.90")),
    "headphones": ShopItem("headphones.html", Decimal("129.00")),
    "lamp": ShopItem("lamp.html", Decimal("89.99"), in_stock=False),
}


class DemoShop:
    """Serves /p/<slug> from the bundled templates with the current price and stock."""

    def __init__(self, items: dict[str, ShopItem] | None = None) -> None:
        self.items = dict(
            items
            or {k: ShopItem(v.template, v.price, v.in_stock) for k, v in DEFAULT_ITEMS.items()}
        )
        self._templates = {
            item.template: Template(
                resources.files("bot.demo_pages").joinpath(item.template).read_text("utf-8")
            )
            for item in self.items.values()
        }
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.requests = 0

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the shop first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, slug: str) -> str:
        return f"{self.base_url}/p/{slug}"

    def set_price(self, slug: str, price: Decimal) -> None:
        with self._lock:
            self.items[slug].price = price

    def set_stock(self, slug: str, in_stock: bool) -> None:
        with self._lock:
            self.items[slug].in_stock = in_stock

    def render(self, slug: str) -> bytes | None:
        with self._lock:
            item = self.items.get(slug)
            if item is None:
                return None
            price, in_stock = item.price, item.in_stock
        return (
            self._templates[item.template]
            .substitute(
                price=f"{price:.2f}",
                price_text=f"{price:.2f}".replace(".", ","),
                availability="InStock" if in_stock else "OutOfStock",
                og_availability="instock" if in_stock else "oos",
                stock_text="In stock, ships today" if in_stock else "Currently out of stock",
            )
            .encode("utf-8")
        )

    def start(self) -> str:
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                shop.requests += 1
                slug = self.path.removeprefix("/p/").split("?", 1)[0]
                body = shop.render(slug) if self.path.startswith("/p/") else None
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the demo prints its own story

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
