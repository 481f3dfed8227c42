"""Alembic environment and revisions for pricebot's database (installed with the package)."""

# The newest revision, so a start-up can see that a database is current without loading
# Alembic and every revision script (a third of a `pricebot check` start-up). A test holds
# it equal to what Alembic finds; a new revision must update it.
HEAD_REVISION = "0007"
