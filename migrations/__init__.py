"""Alembic environment and revisions for pricebot's database (installed with the package)."""
