"""Render a Reply as plain terminal text."""

from __future__ import annotations

from core.reply import Reply


def render_text(reply: Reply, prefix: str = "") -> str:
    """Blocks separated by blank lines; buttons as a bracketed line at the end."""
    lines = reply.text.splitlines() or [""]
    text = "\n".join(prefix + line if line else line for line in lines)
    if reply.buttons:
        shown = []
        for button in reply.buttons:
            shown.append(f"[{button.label}: {button.url}]" if button.url else f"[{button.label}]")
        text += "\n" + prefix + " ".join(shown)
    if reply.image_png:
        text += f"\n{prefix}(chart image, {len(reply.image_png)} bytes)"
    return text
