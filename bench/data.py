"""Where the shared real-data folder is, for benchmarks and quality tests."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """`$KHUB_SHARED_DATA`, else `../shared/data` next to the repository."""
    env = os.environ.get("KHUB_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"
