"""Start-up on PostgreSQL: an old schema is refused with what to do; `migrate` fixes it."""

from __future__ import annotations

import os
import subprocess
import sys


def pricebot(command: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PRICEBOT_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "bot", command], capture_output=True, text=True, timeout=120, env=env
    )


def test_unmigrated_postgres_is_refused_until_migrate(fresh_postgres_url):
    refused = pricebot("check", fresh_postgres_url)
    assert refused.returncode == 2
    assert "run `pricebot migrate` first" in refused.stderr

    migrated = pricebot("migrate", fresh_postgres_url)
    assert migrated.returncode == 0, migrated.stderr
    checked = pricebot("check", fresh_postgres_url)
    assert checked.returncode == 0, checked.stderr
    assert "checked 0 products" in checked.stdout


def test_unreachable_database_says_so_in_one_line():
    result = pricebot("check", "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("pricebot: cannot start:")
