"""Platform-neutral replies: text blocks, buttons and an optional image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Button:
    """A button: either opens a URL or sends `action` back to the bot."""

    label: str
    url: str | None = None
    action: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "url": self.url, "action": self.action}


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot says. Adapters render it; `text` blocks are plain text, never markup.

    `link` is the page the reply is about (a title links to it where the platform can), and
    `thumbnail` a picture of it (a product image URL); platforms without either ignore them."""

    blocks: tuple[str, ...]
    buttons: tuple[Button, ...] = ()
    image_png: bytes | None = field(default=None, repr=False)
    is_error: bool = False
    link: str | None = None
    thumbnail: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(self.blocks)

    @classmethod
    def say(cls, *blocks: str, buttons: tuple[Button, ...] = ()) -> Reply:
        return cls(tuple(blocks), buttons)

    @classmethod
    def error(cls, message: str) -> Reply:
        return cls((message,), is_error=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "blocks": list(self.blocks),
            "buttons": [b.to_dict() for b in self.buttons],
            "is_error": self.is_error,
            "link": self.link,
            "thumbnail": self.thumbnail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        return cls(
            tuple(data.get("blocks", ())),
            tuple(Button(**b) for b in data.get("buttons", ())),
            is_error=bool(data.get("is_error", False)),
            link=data.get("link"),
            thumbnail=data.get("thumbnail"),
        )
