"""`20news`: the 20 Newsgroups TF-IDF matrix of the shared data folder (sparse, offline).

The file `20news_tfidf2000.npz` (CSR TF-IDF over 2 000 terms of 18 846 posts; see
`../shared/data/README.md`) holds two label sets: `y` (20 groups) and `y_root` (4 root
categories comp/rec/sci/talk, -1 for posts outside them). The default task is the 4-root
one, the development stand-in for Reuters: the 2 771 rows labelled -1 are dropped
explicitly, leaving 16 075 posts.
"""

from __future__ import annotations

import os
from pathlib import Path

from ddc_tf.data.arrays import ArrayData
from ddc_tf.data.npz import load_npz
from ddc_tf.data.paths import DATA_DIR_ENV, find_data_path

__all__ = ["NEWSGROUPS_FILE", "load_20news"]

NEWSGROUPS_FILE = "20news_tfidf2000.npz"
_TASKS = {"roots": ("y_root", "roots"), "groups": ("y", "groups")}


def load_20news(*, path: str | os.PathLike | None = None, task: str = "roots") -> ArrayData:
    """Load 20 Newsgroups as sparse TF-IDF vectors.

    Args:
        path: the `.npz` file; default: found through `$DDC_TF_DATA_DIR` or the shared
            data folder next to the repository.
        task: `"roots"` (4 root categories, rows outside them dropped) or `"groups"`
            (all 20 groups, 18 846 posts).

    Returns:
        Sparse `ArrayData` of kind `"vector"`: `x` CSR float32 `(n, 2000)`, `y` int64.
    """
    if task not in _TASKS:
        raise ValueError(f"20news: task must be one of {list(_TASKS)}, got {task!r}")
    if path is None:
        found, searched = find_data_path([NEWSGROUPS_FILE])
        if found is None:
            raise FileNotFoundError(
                f"20news: {NEWSGROUPS_FILE} not found; looked in "
                f"{', '.join(str(p) for p in searched)}. Set {DATA_DIR_ENV} to the folder "
                "holding it or pass path=..."
            )
        path = found
    label_key, names_key = _TASKS[task]
    return load_npz(
        Path(path),
        label_key=label_key,
        drop_unlabeled=task == "roots",
        class_names_key=names_key,
        name="20news",
    )
