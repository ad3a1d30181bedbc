"""Writers of prediction results: ``.csv`` row by row, ``.npz`` at the end."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from ddc_tf.serving.export import OUTPUT_CLUSTER, OUTPUT_HIDDEN, OUTPUT_PROBABILITIES

__all__ = ["CsvWriter", "NpzWriter"]


class CsvWriter:
    """Rows ``index, [path,] cluster, p0.. (h0..)`` written batch by batch (``path``: the
    data's row names, such as an image folder's file paths, when it has them)."""

    def __init__(self, path: Path, n_clusters: int, row_names: Sequence[str] | None = None) -> None:
        self.f = open(path, "w", newline="")
        self.writer = csv.writer(self.f)
        self.n_clusters = n_clusters
        self.row_names = row_names
        self.header_written = False
        self.row = 0

    def write(self, out: dict[str, np.ndarray]) -> None:
        if not self.header_written:
            header = ["index", *(["path"] if self.row_names is not None else []), OUTPUT_CLUSTER]
            header += [f"p{j}" for j in range(self.n_clusters)]
            if OUTPUT_HIDDEN in out:
                header += [f"h{j}" for j in range(out[OUTPUT_HIDDEN].shape[1])]
            self.writer.writerow(header)
            self.header_written = True
        columns = [out[OUTPUT_PROBABILITIES]] + ([out[OUTPUT_HIDDEN]] if OUTPUT_HIDDEN in out else [])
        values = np.concatenate(columns, axis=1)
        for i, (cluster, row) in enumerate(zip(out[OUTPUT_CLUSTER], values)):
            # %.9g round-trips float32 exactly
            name = [self.row_names[self.row + i]] if self.row_names is not None else []
            self.writer.writerow([self.row + i, *name, int(cluster), *(f"{v:.9g}" for v in row)])
        self.row += len(values)

    def finish(self) -> None:
        self.f.close()

    def discard(self) -> None:
        self.f.close()


class NpzWriter:
    """Batches gathered, then saved as one ``.npz`` (``cluster``, ``probabilities``, ``hidden``,
    and ``path``, the data's row names, when it has them)."""

    def __init__(self, path: Path, row_names: Sequence[str] | None = None) -> None:
        self.path = path
        self.row_names = row_names
        self.parts: list[dict[str, np.ndarray]] = []

    def write(self, out: dict[str, np.ndarray]) -> None:
        self.parts.append(out)

    def finish(self) -> None:
        if not self.parts:
            return
        arrays = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        if self.row_names is not None:
            arrays["path"] = np.array(self.row_names, dtype=str)  # not "file": np.savez's own argument
        with open(self.path, "wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez(f, **arrays)

    def discard(self) -> None:
        self.parts = []
