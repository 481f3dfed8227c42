"""Holdings, market items, every observed market price, and marketplace data.

- market_items: a card printing in one finish (source, source id) or a tracked page.
- market_prices: every observation of an item's price, with the amount also in minor units
  (an exact integer both databases can aggregate) for statistics by indexed queries.
- holdings: rebuilt (no version wrote the old table): an item, quantity, unit cost, alerts
  and the owner's own ask, in the chat it was added in.
- marketplace_data: one row per item and platform, volatility and fee within 0..1.
- offers.url becomes offers.payload: it also holds the printings a card name matched.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 14:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _decimal() -> sa.types.TypeEngine[object]:
    """Exact decimals: NUMERIC on PostgreSQL, decimal text on SQLite (see ExactDecimal)."""
    return sa.Numeric().with_variant(sa.String(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("holdings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_holdings_product_id"))
        batch_op.drop_index(batch_op.f("ix_holdings_owner"))
    op.drop_table("holdings")

    op.create_table(
        "market_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.Column("finish", sa.String(length=64), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("game", sa.String(length=32), nullable=True),
        sa.Column("set_name", sa.Text(), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("image", sa.Text(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("next_refresh_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("price_amount", _decimal(), nullable=True),
        sa.Column("price_currency", sa.String(length=3), nullable=True),
        sa.Column("price_source", sa.String(length=32), nullable=True),
        sa.Column("price_market", sa.String(length=32), nullable=True),
        sa.Column("price_kind", sa.String(length=32), nullable=True),
        sa.Column("priced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_market_items_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_items")),
        sa.UniqueConstraint("item_key", name=op.f("uq_market_items_item_key")),
    )
    with op.batch_alter_table("market_items", schema=None) as batch_op:
        batch_op.create_index("ix_market_items_next_refresh_at", ["next_refresh_at"])
        batch_op.create_index(batch_op.f("ix_market_items_product_id"), ["product_id"])

    op.create_table(
        "market_prices",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("amount", _decimal(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["market_items.id"],
            name=op.f("fk_market_prices_item_id_market_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_prices")),
    )
    with op.batch_alter_table("market_prices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_market_prices_item_id_currency_observed_at",
            ["item_id", "currency", "observed_at"],
        )

    op.create_table(
        "holdings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("cost_amount", _decimal(), nullable=True),
        sa.Column("cost_currency", sa.String(length=3), nullable=True),
        sa.Column("condition", sa.Text(), nullable=True),
        sa.Column("alert_pct", _decimal(), nullable=True),
        sa.Column("alert_armed", sa.Boolean(), nullable=False),
        sa.Column("last_alert_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ask_amount", _decimal(), nullable=True),
        sa.Column("ask_currency", sa.String(length=3), nullable=True),
        sa.Column("ask_platform", sa.String(length=32), nullable=True),
        sa.Column("ask_armed", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["market_items.id"],
            name=op.f("fk_holdings_item_id_market_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holdings")),
    )
    with op.batch_alter_table("holdings", schema=None) as batch_op:
        batch_op.create_index("ix_holdings_platform_chat_id", ["platform", "chat_id"])
        batch_op.create_index("ix_holdings_item_id_active", ["item_id", "active"])

    op.create_table(
        "marketplace_data",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("item_ref", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("lowest_ask", _decimal(), nullable=True),
        sa.Column("highest_bid", _decimal(), nullable=True),
        sa.Column("last_sale", _decimal(), nullable=True),
        sa.Column("sales_30d", sa.Integer(), nullable=True),
        sa.Column("volatility", _decimal(), nullable=True),
        sa.Column("fee", _decimal(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "volatility IS NULL OR CAST(volatility AS REAL) BETWEEN 0 AND 1",
            name=op.f("ck_marketplace_data_volatility"),
        ),
        sa.CheckConstraint(
            "CAST(fee AS REAL) BETWEEN 0 AND 1", name=op.f("ck_marketplace_data_fee")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["market_items.id"],
            name=op.f("fk_marketplace_data_item_id_market_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketplace_data")),
        sa.UniqueConstraint(
            "item_id", "platform", name=op.f("uq_marketplace_data_item_id_platform")
        ),
    )

    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.alter_column("url", new_column_name="payload", existing_type=sa.Text())


def downgrade() -> None:
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.alter_column("payload", new_column_name="url", existing_type=sa.Text())
    op.drop_table("marketplace_data")
    with op.batch_alter_table("holdings", schema=None) as batch_op:
        batch_op.drop_index("ix_holdings_item_id_active")
        batch_op.drop_index("ix_holdings_platform_chat_id")
    op.drop_table("holdings")
    with op.batch_alter_table("market_prices", schema=None) as batch_op:
        batch_op.drop_index("ix_market_prices_item_id_currency_observed_at")
    op.drop_table("market_prices")
    with op.batch_alter_table("market_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_market_items_product_id"))
        batch_op.drop_index("ix_market_items_next_refresh_at")
    op.drop_table("market_items")
    op.create_table(
        "holdings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("card_name", sa.Text(), nullable=True),
        sa.Column("quantity", _decimal(), nullable=False),
        sa.Column("cost_amount", _decimal(), nullable=True),
        sa.Column("cost_currency", sa.String(length=3), nullable=True),
        sa.Column("alert_pct", _decimal(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_holdings_product_id_products"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holdings")),
    )
    with op.batch_alter_table("holdings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_holdings_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_holdings_product_id"), ["product_id"], unique=False)
