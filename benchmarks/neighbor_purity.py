"""How often a point's nearest input-space neighbours share its class — how much the
neighbour-consistency term (``ddc-tf fit --neighbors K``) can be trusted on a data set.

    python benchmarks/neighbor_purity.py --data digits 20news fashion_mnist --k 5 10 20
    python benchmarks/neighbor_purity.py --data 20news --model outputs/distill/20news-nbr10-w1/model.keras --name neighbor_purity_hidden

(run from ``benchmarks/``; writes ``benchmarks/results/<name>.json``). The neighbours are
those training uses (``ddc_tf.data.neighbors.nearest_neighbors``, metric ``auto``); labels only score.
With ``--model``, the neighbours are searched in that trained model's hidden representation
(``model.embed``) instead of the input space — would re-mining them from a trained run (as SCAN
does) give purer pairs? With ``--lsa D …``, they are also searched (cosine) in a D-dimensional
LSA projection of the inputs (scikit-learn's ``TruncatedSVD`` of the unit-length rows), the usual
space for comparing TF-IDF documents:

    python benchmarks/neighbor_purity.py --data 20news --k 1 3 5 10 --lsa 100 200 400 --name neighbor_purity_lsa
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras

from common import subsample, write_results
from ddc_tf import data as ddc_data
from ddc_tf.data.neighbors import nearest_neighbors, neighbor_metric


def hidden_space(model, data):
    """``data`` with its points replaced by the model's hidden representation (float32 vectors)."""
    from ddc_tf.experiments.protocol import embed_data

    return as_vectors(data, embed_data(model, data))


def as_vectors(data, z) -> object:
    """``data`` (same labels and name) with its points replaced by the ``(n, d)`` vectors ``z`` (float32)."""
    return dataclasses.replace(data, x=np.asarray(z, np.float32), kind="vector", raw_dtype="float32", scale=1.0,
                               image_shape=None, load_options=None, feature_names=None)


def lsa_space(data, dims: int):
    """``data`` with its points replaced by their ``dims``-dimensional LSA coordinates (float32)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    x = data.x if data.is_sparse else np.asarray(data.x).reshape(data.n, -1)
    if not 0 < dims < x.shape[1]:
        raise SystemExit(f"--lsa {dims}: {data.name} has {x.shape[1]} input dimensions; an LSA projection needs 1 … {x.shape[1] - 1}")
    return as_vectors(data, TruncatedSVD(dims, random_state=0).fit_transform(normalize(x)))


def purity_in(space, y: np.ndarray, ks: list[int], metric: str = "auto") -> dict[str, float]:
    """Share of each point's first k neighbours in ``space`` (an ``ArrayData``) that share its
    class ``y``, for every k of ``ks`` (one search for the largest k)."""
    found = nearest_neighbors(space, max(ks), metric=metric, n_jobs=-1)
    return {str(k): float((y[found[:, :k]] == y[:, None]).mean()) for k in ks}


def format_purity(purity: dict[str, float]) -> str:
    """``k=5 0.818, k=10 0.778`` for printing."""
    return ", ".join(f"k={k} {p:.3f}" for k, p in purity.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["digits", "20news"])
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--model", nargs="+", default=None, help="trained .keras models: neighbours in their hidden space")
    parser.add_argument("--lsa", type=int, nargs="+", default=None, help="also search in LSA projections of these dimensions")
    parser.add_argument("--name", default="neighbor_purity")
    args = parser.parse_args()
    rows = {}
    for name in args.data:
        data = subsample(ddc_data.load_arrays(name), args.subset)
        start = time.perf_counter()
        purity = purity_in(data, data.y, args.k)
        seconds = time.perf_counter() - start
        rows[name] = {"n": data.n, "metric": neighbor_metric(data), "purity": purity, "seconds": round(seconds, 1)}
        print(f"{name}: n={data.n} metric={rows[name]['metric']} purity {format_purity(purity)} ({seconds:.1f} s)",
              flush=True)
        for path in args.model or []:
            hidden = hidden_space(keras.models.load_model(path), data)
            purity = purity_in(hidden, data.y, args.k)
            rows[f"{name} hidden of {path}"] = {"metric": neighbor_metric(hidden), "purity": purity}
            print(f"  hidden space of {path}: metric={neighbor_metric(hidden)} purity {format_purity(purity)}", flush=True)
        for dims in args.lsa or []:
            purity = purity_in(lsa_space(data, dims), data.y, args.k, metric="cosine")
            rows[f"{name} LSA {dims}"] = {"metric": "cosine", "purity": purity}
            print(f"  LSA {dims}: purity {format_purity(purity)}", flush=True)
    write_results(args.name, {"command": "python benchmarks/neighbor_purity.py " + " ".join(sys.argv[1:]),
                              "rows": rows})


if __name__ == "__main__":
    main()
