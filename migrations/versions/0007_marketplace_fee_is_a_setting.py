"""The seller fee is a setting, not market data: marketplace_data.fee (and its CHECK) go.

/sell applies PRICEBOT_SELLER_FEES (or the documented default) when it runs, so a stored row
never keeps a fee the operator has since changed. A downgrade restores the column with the
documented default fee of each platform as of this revision (0 for a platform without one);
the older code rewrites it at its next refresh anyway.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# adapters/sources/fees.py's defaults when the column went (fixed here: a revision must not
# change with the code).
DEFAULT_FEES = {
    "stockx": "0.12",
    "goat": "0.095",
    "alias": "0.121245",
    "flightclub": "0.121245",
}


def _decimal() -> sa.types.TypeEngine[object]:
    """Exact decimals: NUMERIC on PostgreSQL, decimal text on SQLite (see ExactDecimal)."""
    return sa.Numeric().with_variant(sa.String(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("marketplace_data", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_marketplace_data_fee"), type_="check")
        batch_op.drop_column("fee")


def downgrade() -> None:
    with op.batch_alter_table("marketplace_data", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fee", _decimal(), nullable=False, server_default="0"))
    for platform, fee in DEFAULT_FEES.items():
        # A quoted literal: decimal text on SQLite, an exact NUMERIC on PostgreSQL.
        op.execute(f"UPDATE marketplace_data SET fee = '{fee}' WHERE platform = '{platform}'")
    with op.batch_alter_table("marketplace_data", schema=None) as batch_op:
        # As 0005 made it: no server default, every writer gives the fee.
        batch_op.alter_column("fee", existing_type=_decimal(), server_default=None)
        batch_op.create_check_constraint(
            batch_op.f("ck_marketplace_data_fee"), "CAST(fee AS REAL) BETWEEN 0 AND 1"
        )
