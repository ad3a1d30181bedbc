"""How often a point's nearest input-space neighbours share its class — how much the
neighbour-consistency term (``ddc-tf fit --neighbors K``) can be trusted on a data set.

    python benchmarks/neighbor_purity.py --data digits 20news fashion_mnist --k 5 10 20

(run from ``benchmarks/``; writes ``benchmarks/results/neighbor_purity.json``). The neighbours are
those training uses (``ddc_tf.data.neighbors.nearest_neighbors``, metric ``auto``); labels only score.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import subsample, write_results
from ddc_tf import data as ddc_data
from ddc_tf.data.neighbors import nearest_neighbors, neighbor_metric


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["digits", "20news"])
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--subset", type=int, default=None)
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
    write_results(args.name, {"command": "python benchmarks/neighbor_purity.py " + " ".join(sys.argv[1:]),
                              "rows": rows})


if __name__ == "__main__":
    main()
