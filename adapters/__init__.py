"""Adapters that connect pricebot's core to chat platforms, the web, parsing and storage."""
