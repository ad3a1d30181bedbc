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

__all__ = ["NEWSGROUPS_FILE", "build_20news", "load_20news"]

NEWSGROUPS_FILE = "20news_tfidf2000.npz"
#: The TF-IDF of the file: the 2 000 most frequent terms, English stop words removed, terms in ≥ 2 posts.
VOCABULARY_SIZE = 2000
#: The 4-root task's categories, by newsgroup-name prefix (the other groups: alt, misc, soc → −1).
ROOTS = ("comp", "rec", "sci", "talk")
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
                f"{', '.join(str(p) for p in searched)}. Build it (downloads 20 Newsgroups through "
                f"scikit-learn, about 14 MB) with `python -m ddc_tf.data.newsgroups --out DIR`, then set "
                f"{DATA_DIR_ENV}=DIR (or pass path=...)"
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


def build_20news(out_dir: str | os.PathLike, *, data_home: str | os.PathLike | None = None) -> Path:
    """Write ``out_dir/20news_tfidf2000.npz``, the file :func:`load_20news` reads, from the
    "bydate" 20 Newsgroups collection (all 18 846 posts, message headers removed) that
    scikit-learn downloads (``fetch_20newsgroups``; cached in ``data_home``).

    The arrays are those of the shared development file: a CSR float32 TF-IDF matrix
    (``data``, ``indices``, ``indptr``, ``shape``) over :data:`VOCABULARY_SIZE` terms, ``y``
    (the 20 groups, names in ``groups``), ``y_root`` (:data:`ROOTS`, −1 for alt, misc and soc;
    names in ``roots``) and ``vocabulary`` (the terms in column order), all without pickled
    objects. Built on another day or scikit-learn version, the vocabulary may differ in a
    few terms from the shared file the README's numbers were measured on.

    Returns:
        The path of the file written.
    """
    import numpy as np
    from sklearn.datasets import fetch_20newsgroups
    from sklearn.feature_extraction.text import TfidfVectorizer

    posts = fetch_20newsgroups(subset="all", remove=("headers",), data_home=data_home)
    vectorizer = TfidfVectorizer(max_features=VOCABULARY_SIZE, stop_words="english", min_df=2, dtype=np.float32)
    x = vectorizer.fit_transform(posts.data).tocsr()
    groups = np.asarray(posts.target_names, dtype=str)
    root_of_group = np.array([ROOTS.index(name.split(".")[0]) if name.split(".")[0] in ROOTS else -1
                              for name in groups], dtype=np.int64)
    y = np.asarray(posts.target, dtype=np.int64)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / NEWSGROUPS_FILE
    np.savez_compressed(
        path, data=x.data.astype(np.float32), indices=x.indices.astype(np.int32),
        indptr=x.indptr.astype(np.int32), shape=np.asarray(x.shape, dtype=np.int64), y=y,
        y_root=root_of_group[y], groups=groups, roots=np.asarray(ROOTS, dtype=str),
        vocabulary=np.asarray(vectorizer.get_feature_names_out(), dtype=str),
    )
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m ddc_tf.data.newsgroups --out DIR``: build the file (see :func:`build_20news`)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ddc_tf.data.newsgroups", description=(
        f"Download 20 Newsgroups through scikit-learn and write DIR/{NEWSGROUPS_FILE}, the file "
        f"`--data 20news` reads (set {DATA_DIR_ENV}=DIR)."))
    parser.add_argument("--out", required=True, help="the folder to write the file to")
    parser.add_argument("--data-home", default=None, help="scikit-learn's download cache (default ~/scikit_learn_data)")
    args = parser.parse_args(argv)
    path = build_20news(args.out, data_home=args.data_home)
    print(f"wrote {path}; use it with {DATA_DIR_ENV}={Path(args.out).resolve()} ddc-tf fit --data 20news")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
