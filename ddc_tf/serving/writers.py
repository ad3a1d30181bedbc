"""Writers of prediction results: ``.csv`` row by row, ``.npz`` at the end."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ddc_tf.serving.export import OUTPUT_CLUSTER, OUTPUT_HIDDEN, OUTPUT_PROBABILITIES

__all__ = ["CsvWriter", "NpzWriter"]


class CsvWriter:
    """Rows ``index, cluster, p0.. (h0..)`` written batch by batch."""

    def __init__(self, path: Path, n_clusters: int) -> None:
        self.f = open(path, "w", newline="")
        self.writer = csv.writer(self.f)
        self.n_clusters = n_clusters
        self.header_written = False
        self.row = 0

    def write(self, out: dict[str, np.ndarray]) -> None:
        if not self.header_written:
            header = ["index", OUTPUT_CLUSTER] + [f"p{j}" for j in range(self.n_clusters)]
            if OUTPUT_HIDDEN in out:
                header += [f"h{j}" for j in range(out[OUTPUT_HIDDEN].shape[1])]
            self.writer.writerow(header)
            self.header_written = True
        columns = [out[OUTPUT_PROBABILITIES]] + ([out[OUTPUT_HIDDEN]] if OUTPUT_HIDDEN in out else [])
        values = np.concatenate(columns, axis=1)
        for i, (cluster, row) in enumerate(zip(out[OUTPUT_CLUSTER], values)):
            # %.9g round-trips float32 exactly
            self.writer.writerow([self.row + i, int(cluster), *(f"{v:.9g}" for v in row)])
        self.row += len(values)

    def finish(self) -> None:
        self.f.close()

    def discard(self) -> None:
        self.f.close()


class NpzWriter:
    """Batches gathered, then saved as one ``.npz`` (``cluster``, ``probabilities``, ``hidden``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parts: list[dict[str, np.ndarray]] = []

    def write(self, out: dict[str, np.ndarray]) -> None:
        self.parts.append(out)

    def finish(self) -> None:
        if not self.parts:
            return
        arrays = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        with open(self.path, "wb") as f:  # a file object: np.savez would append ".npz" to a name
            np.savez(f, **arrays)

    def discard(self) -> None:
        self.parts = []
