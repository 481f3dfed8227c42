"""Claim tokens, button offers, products keyed by a URL hash, and insane amounts repaired.

- products.url_key (SHA-256 of URL and selector) replaces the unique URL: PostgreSQL cannot
  index URLs over 2704 bytes, and a watch's own selector makes a product row of its own.
- products.claim_token and outbox.claim_token fence writes of a check or delivery run whose
  lease expired.
- offers: the link behind a "Track it" button, so a press works on any replica.
- Amounts that are no price (NaN, infinities, 1e400, zero or less) stored by earlier
  versions are cleared: they crashed every list that showed them.
- A broken page's reason is stored as a code; earlier versions stored the sentence written
  for /track, which is turned back into its code here once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from alembic import op

from adapters.storage.keys import product_key

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Money columns whose values must be positive prices below 10^12.
MONEY_COLUMNS = {
    "products": ("price", "low_30d", "high_30d", "avg_30d", "low_all", "high_all"),
    "price_points": ("price",),
    "watches": ("target_amount", "baseline_price", "last_alert_price"),
}


# The reasons earlier versions stored, as they wrote them, and their codes.
REASON_SENTENCES = {
    "That is not a web address I can open. Send a full link like https://shop.example/item.": (
        "invalid_url"
    ),
    "That link points to a private or local network address, which I do not open. Send a "
    "public shop link.": "private_address",
    "The shop says this page does not exist (404/410). Check the link, or track the product's "
    "current page.": "not_found",
    "The shop blocked the request (403 or a captcha page). Try again later or send another "
    "shop's link.": "blocked",
    "The shop took too long to answer. Try again in a few minutes.": "timeout",
    "The page is too large to read. Send a direct product page link.": "too_large",
    "That link is not a web page I can read (wrong content type). Send a product page link.": (
        "not_a_product_page"
    ),
    "The shop had a temporary error. Try again in a few minutes.": "transient",
    "The shop asked me to slow down. I will try again later.": "transient",
    "That link redirects too many times. Send the product page's own address.": (
        "too_many_redirects"
    ),
    "I could not find a price on that page. Send the product's own page (not a search or "
    "category page), or add a CSS selector for the price.": "no_price",
}


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("url_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, url, css_selector FROM products")).all()
    for row in rows:
        connection.execute(
            sa.text("UPDATE products SET url_key = :key WHERE id = :id"),
            {"key": product_key(row.url, row.css_selector), "id": row.id},
        )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.alter_column("url_key", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_constraint("uq_products_url", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_products_url_key"), ["url_key"])

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))

    op.create_table(
        "offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.UniqueConstraint("token", name=op.f("uq_offers_token")),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index("ix_offers_created_at", ["created_at"], unique=False)

    _clear_insane_amounts(connection)
    for sentence, code in REASON_SENTENCES.items():
        connection.execute(
            sa.text("UPDATE products SET status_reason = :code WHERE status_reason = :sentence"),
            {"code": code, "sentence": sentence},
        )


def _clear_insane_amounts(connection: sa.Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    for table, columns in MONEY_COLUMNS.items():
        extra = ", body_digest = NULL" if table == "products" else ""
        for column in columns:
            if sqlite:
                _clear_insane_sqlite_text(connection, table, column, extra)
                continue
            insane = f"{column} = 'NaN'::numeric OR abs({column}) >= 1e12 OR {column} <= 0"
            connection.execute(
                sa.text(
                    f"UPDATE {table} SET {column} = NULL{extra} "
                    f"WHERE {column} IS NOT NULL AND ({insane})"
                )
            )


# Amounts are exact decimal text on SQLite. REAL only narrows down the candidates (a value
# strictly between 0 and 1e11 as a double is a sane amount); the decision is made on the
# exact Decimal, so that 999999999999.9999999 (1e12 as a double) and 1E-400 (0.0 as a
# double) are kept, as on PostgreSQL.
_MAX_AMOUNT = Decimal(10) ** 12


def _is_insane(text: object) -> bool:
    try:
        amount = Decimal(str(text))
    except InvalidOperation:
        return True
    return not amount.is_finite() or amount <= 0 or amount >= _MAX_AMOUNT


def _clear_insane_sqlite_text(
    connection: sa.Connection, table: str, column: str, extra: str
) -> None:
    candidates = connection.execute(
        sa.text(
            f"SELECT id, {column} AS amount FROM {table} WHERE {column} IS NOT NULL AND ("
            f"lower({column}) LIKE '%nan%' OR lower({column}) LIKE '%inf%' OR "
            f"CAST({column} AS REAL) >= 1e11 OR CAST({column} AS REAL) <= 0)"
        )
    ).all()
    insane = [{"id": row.id} for row in candidates if _is_insane(row.amount)]
    if insane:
        connection.execute(
            sa.text(f"UPDATE {table} SET {column} = NULL{extra} WHERE id = :id"), insane
        )


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index("ix_offers_created_at")
    op.drop_table("offers")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claim_token")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_products_url_key"), type_="unique")
        batch_op.create_unique_constraint("uq_products_url", ["url"])
        batch_op.drop_column("claim_token")
        batch_op.drop_column("url_key")
