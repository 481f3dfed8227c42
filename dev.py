#!/usr/bin/env python3
"""Set-up-and-go for newcomers: `python3 dev.py demo` or `python3 dev.py test`.

Creates .venv with the project and its test tools on first use, then runs the demo or the
tests. Needs only Python 3.11+ (and, for the tests, the PostgreSQL server described in the
README).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".pricebot-installed"


def ensure_venv() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("creating virtual environment in .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing pricebot and its dependencies ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted)


def postgres_reachable(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def ensure_postgres() -> None:
    """Starts the local PostgreSQL cluster if it is installed but not running."""
    if os.environ.get("PRICEBOT_TEST_POSTGRES_URL") or postgres_reachable():
        return
    clusters = Path("/etc/postgresql")
    if shutil.which("pg_ctlcluster") and clusters.is_dir():
        for version in sorted(p.name for p in clusters.iterdir()):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                check=False,
            )
    if not postgres_reachable():
        print(
            "warning: no PostgreSQL on 127.0.0.1:5432; the PostgreSQL tests will fail. Start one "
            "or set PRICEBOT_TEST_POSTGRES_URL=postgresql+asyncpg://user@host:port/db",
            file=sys.stderr,
        )


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before the venv exists
        print(f"pricebot needs Python 3.11 or newer; this is {sys.version.split()[0]}")
        return 2
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test", "setup"}:
        print("usage: python3 dev.py demo | test [pytest args] | setup", file=sys.stderr)
        return 2
    ensure_venv()
    action, extra = sys.argv[1], sys.argv[2:]
    if action == "setup":
        return 0
    if action == "demo":
        return subprocess.run([str(BIN / "pricebot"), "demo", *extra], cwd=ROOT).returncode
    ensure_postgres()
    return subprocess.run([str(BIN / "python"), "-m", "pytest", *extra], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
