"""Storage adapter: SQLModel tables, repositories, unit of work, engine and migrations runner."""
