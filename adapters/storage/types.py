"""Column types that keep money exact and times timezone-aware UTC on every dialect."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String, Text
from sqlalchemy.types import TypeDecorator, TypeEngine

from core.text import storable


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal that comes back exactly as stored.

    PostgreSQL gets an unconstrained NUMERIC (exact, keeps the scale). SQLite has no exact
    decimal type (its NUMERIC affinity turns values into floats), so there the value is
    stored as its decimal text, e.g. '1299.99' or '0.000001'. Never compare or aggregate
    these columns in SQL on SQLite: text order is not numeric order.
    """

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must be a Decimal, not a float")
        if isinstance(value, int | str):
            value = Decimal(value)
        if not isinstance(value, Decimal):
            raise TypeError(f"expected a Decimal, got {type(value).__name__}")
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {value}")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class SafeText(TypeDecorator[str]):
    """Text that SQLite and PostgreSQL both accept the same way: a NUL (PostgreSQL refuses
    it) is dropped and a lone surrogate (neither driver can encode it) becomes U+FFFD, so a
    hostile title is stored alike everywhere instead of failing on one database only."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else storable(str(value))


class SafeString(SafeText):
    """SafeText with a length, for short identifiers (chat ids, user keys)."""

    impl = String
    cache_ok = True


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on the way in and on the way out.

    PostgreSQL stores TIMESTAMP WITH TIME ZONE. SQLite stores naive text, so values are
    converted to UTC before they are written (which also keeps text comparison correct) and
    get their UTC zone back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pricebot stores timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
