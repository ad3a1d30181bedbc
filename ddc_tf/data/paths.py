"""Where named data sets are looked for on disk.

Search order for a file or folder `name`:
1. `$DDC_TF_DATA_DIR/<name>` when the environment variable is set;
2. `<repo root>/../shared/data/<name>` (the project's shared data folder, next to the
   repository);
3. any extra system folders a loader passes (e.g. Debian's `/usr/share/datasets/...`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

__all__ = ["DATA_DIR_ENV", "REPO_ROOT", "candidate_paths", "find_data_path"]

DATA_DIR_ENV = "DDC_TF_DATA_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]


def candidate_paths(names: Sequence[str], extra: Sequence[str | os.PathLike] = ()) -> list[Path]:
    """All places searched for any of `names`, in order (existing or not)."""
    roots: list[Path] = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        roots.append(Path(env).expanduser())
    roots.append((REPO_ROOT.parent / "shared" / "data"))
    paths = [root / name for root in roots for name in names]
    return paths + [Path(p) for p in extra]


def find_data_path(
    names: Sequence[str], extra: Sequence[str | os.PathLike] = ()
) -> tuple[Path | None, list[Path]]:
    """The first existing candidate of `candidate_paths(names, extra)`, and all candidates."""
    candidates = candidate_paths(names, extra)
    for path in candidates:
        if path.exists():
            return path, candidates
    return None, candidates
