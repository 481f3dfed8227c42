"""Keeps tokens and secrets out of logs: PTB, discord.py and httpx log request URLs and
headers, which contain them."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote

REDACTED = "[REDACTED]"
DEFAULT_LOGGERS = ("httpx", "telegram", "apscheduler", "adapters.telegram")
_MIN_SECRET_PART = 8  # the part after "bot_id:" is the secret; shorter strings are too common


class TokenRedactingFilter(logging.Filter):
    """Replaces every secret (and its URL-encoded form) in a record's message, arguments,
    exception text and stack with [REDACTED]. Never drops a record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        variants: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            variants.update({secret, quote(secret, safe=""), quote(secret)})
            # The numeric bot id before ":" is public; the rest alone must not leak either.
            _, _, secret_part = secret.partition(":")
            if len(secret_part) >= _MIN_SECRET_PART:
                variants.update({secret_part, quote(secret_part, safe="")})
        # Longest first, so a full token is replaced before its secret part.
        self.secrets: tuple[str, ...] = tuple(sorted(variants, key=len, reverse=True))
        self._attached: list[logging.Filterer] = []

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging reports it, with the raw args
            record.msg = self.redact(str(record.msg))
            record.args = tuple(self.redact(str(arg)) for arg in record.args or ())
            return True
        redacted = self.redact(message)
        if redacted != message:
            # Freeze the formatted text: args may hold objects (URLs, exceptions) whose str()
            # shows the token, so they must not be formatted again later.
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

    def attach(self, target: logging.Filterer) -> None:
        """Adds this filter to a logger or handler unless an equal one is already there."""
        for existing in target.filters:
            if isinstance(existing, TokenRedactingFilter) and existing.secrets == self.secrets:
                return
        target.addFilter(self)
        self._attached.append(target)

    def detach(self) -> None:
        """Removes this filter from everything `attach` added it to."""
        for target in self._attached:
            target.removeFilter(self)
        self._attached.clear()


def install_token_redaction(
    *secrets: str, logger_names: Iterable[str] = DEFAULT_LOGGERS
) -> TokenRedactingFilter:
    """Redacts `secrets` (the bot token) from every log record that reaches the root logger's
    handlers, and from the "httpx", "telegram", "apscheduler" and our own loggers and children.

    Call it after logging is configured: a handler added later only gets records that were
    redacted at their logger, which covers those three libraries but not the rest.
    """
    redaction = TokenRedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        redaction.attach(handler)
    for name in logger_names:
        for logger in _logger_and_children(name):
            redaction.attach(logger)
            for handler in logger.handlers:
                redaction.attach(handler)
    return redaction


def _logger_and_children(name: str) -> list[logging.Logger]:
    # A logger's filters only see records logged on that very logger, not on its children
    # ("telegram.ext.Updater" is not filtered by "telegram"), so each existing child gets it.
    loggers = [logging.getLogger(name)]
    for child_name, child in list(logging.Logger.manager.loggerDict.items()):
        if child_name.startswith(f"{name}.") and isinstance(child, logging.Logger):
            loggers.append(child)
    return loggers
