"""Where the shared product pages live; tests that need them skip with a reason when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("PRICEBOT_SHARED_DIR", REPO_ROOT.parent / "shared"))
PRODUCT_PAGES = SHARED_DIR / "product-pages"

requires_shared = pytest.mark.skipif(
    not (PRODUCT_PAGES / "ground-truth.json").exists(),
    reason=f"shared product pages not found at {PRODUCT_PAGES} (set PRICEBOT_SHARED_DIR)",
)
