"""How often a point's nearest input-space neighbours share its class — how much the
neighbour-consistency term (``ddc-tf fit --neighbors K``) can be trusted on a data set.

    python benchmarks/neighbor_purity.py --data digits 20news fashion_mnist --k 5 10 20
    python benchmarks/neighbor_purity.py --data 20news --model outputs/distill/20news-nbr10-w1/model.keras --name neighbor_purity_hidden

(run from ``benchmarks/``; writes ``benchmarks/results/<name>.json``). The neighbours are
those training uses (``ddc_tf.data.neighbors.nearest_neighbors``, metric ``auto``); labels only score.
With ``--model``, the neighbours are searched in that trained model's hidden representation
(``model.embed``) instead of the input space — would re-mining them from a trained run (as SCAN
does) give purer pairs?
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

    return dataclasses.replace(data, x=np.asarray(embed_data(model, data), np.float32), kind="vector",
                               raw_dtype="float32", scale=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["digits", "20news"])
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--model", nargs="+", default=None, help="trained .keras models: neighbours in their hidden space")
    parser.add_argument("--name", default="neighbor_purity")
    args = parser.parse_args()
    rows = {}
    for name in args.data:
        data = subsample(ddc_data.load_arrays(name), args.subset)
        start = time.perf_counter()
        found = nearest_neighbors(data, max(args.k), n_jobs=-1)
        seconds = time.perf_counter() - start
        purity = {str(k): float((data.y[found[:, :k]] == data.y[:, None]).mean()) for k in args.k}
        rows[name] = {"n": data.n, "metric": neighbor_metric(data), "purity": purity, "seconds": round(seconds, 1)}
        print(f"{name}: n={data.n} metric={rows[name]['metric']} purity "
              + ", ".join(f"k={k} {p:.3f}" for k, p in purity.items()) + f" ({seconds:.1f} s)", flush=True)
        for path in args.model or []:
            hidden = hidden_space(keras.models.load_model(path), data)
            found = nearest_neighbors(hidden, max(args.k), n_jobs=-1)
            purity = {str(k): float((data.y[found[:, :k]] == data.y[:, None]).mean()) for k in args.k}
            rows[f"{name} hidden of {path}"] = {"metric": neighbor_metric(hidden), "purity": purity}
            print(f"  hidden space of {path}: metric={neighbor_metric(hidden)} purity "
                  + ", ".join(f"k={k} {p:.3f}" for k, p in purity.items()), flush=True)
    write_results(args.name, {"command": "python benchmarks/neighbor_purity.py " + " ".join(sys.argv[1:]),
                              "rows": rows})


if __name__ == "__main__":
    main()
