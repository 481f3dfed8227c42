"""Watches remember their chat's community (a Discord server), and a table of named values.

- watches.community, indexed with platform and active: the per-server watch limit counts it.
- app_state: values kept between runs and replicas (the hash of the slash commands last
  registered with Discord, so they are registered again only when they change).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 13:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("watches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("community", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_watches_platform_community_active",
            ["platform", "community", "active"],
            unique=False,
        )
    op.create_table(
        "app_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_app_state")),
    )


def downgrade() -> None:
    op.drop_table("app_state")
    with op.batch_alter_table("watches", schema=None) as batch_op:
        batch_op.drop_index("ix_watches_platform_community_active")
        batch_op.drop_column("community")
