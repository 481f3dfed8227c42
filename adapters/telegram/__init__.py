"""Telegram chat adapter: python-telegram-bot Application, rendering, notifier."""
