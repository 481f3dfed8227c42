"""Render a Reply as plain terminal text; buttons are numbered so they can be pressed."""

from __future__ import annotations

from core.reply import Reply


def render_text(reply: Reply, prefix: str = "") -> str:
    """Blocks separated by blank lines; buttons as a numbered line at the end."""
    lines = reply.text.splitlines() or [""]
    text = "\n".join(prefix + line if line else line for line in lines)
    if reply.buttons:
        shown = []
        for number, button in enumerate(reply.buttons, start=1):
            label = f"{number} {button.label}"
            shown.append(f"[{label}: {button.url}]" if button.url else f"[{label}]")
        text += "\n" + prefix + " ".join(shown)
    if reply.image_png:
        text += f"\n{prefix}(chart image, {len(reply.image_png)} bytes)"
    return text
