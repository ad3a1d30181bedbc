"""Does training leave traced graphs behind? Counts the ``FuncGraph`` objects alive (after
``gc.collect()``) after each of several short ``train_run`` calls and, for comparison, plain
``keras.Model.fit`` calls on a two-layer model — no model is kept between calls.

    python benchmarks/graph_leak.py --runs 4

Found while timing the test suite: its processes held ~1.4 million Python objects after a
few dozen tests, with single garbage-collector passes of several seconds. Keras 3's
TensorFlow backend keeps the graphs of every compiled function it traced (a long-standing
upstream report: keras-team/keras#21090, keras-team/tf-keras#286); ``clear_session`` does not
free them. Results: ``benchmarks/results/graph_leak.json``.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from tensorflow.python.framework import func_graph

from common import write_results
from ddc_tf.data import ArrayData
from ddc_tf.experiments.training import TrainConfig, train_run


def live_graphs() -> tuple[int, int]:
    """(FuncGraphs alive, their operations) after a full collection."""
    gc.collect()
    graphs = [o for o in gc.get_objects() if isinstance(o, func_graph.FuncGraph)]
    return len(graphs), sum(len(g.get_operations()) for g in graphs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--name", default="graph_leak")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    data = ArrayData(x=x, y=np.arange(120) % 3, name="blobs", kind="vector", raw_dtype="float32", scale=1.0)
    config = TrainConfig(n_clusters=3, backbone="mlp", steps=6, batch_size=40, hidden_units=16)
    rows = {"train_run": [], "keras_fit": [], "after_clear_session": None}
    for _ in range(args.runs):
        model, _ = train_run(data, config, seed=0, verbose=0)
        del model
        rows["train_run"].append(live_graphs())
    for _ in range(args.runs):
        plain = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8), keras.layers.Dense(3)])
        plain.compile("adam", "mse")
        plain.fit(x, x[:, :3], epochs=1, batch_size=40, verbose=0)
        del plain
        rows["keras_fit"].append(live_graphs())
    keras.backend.clear_session()
    rows["after_clear_session"] = live_graphs()
    per_run = (rows["train_run"][-1][0] - rows["train_run"][0][0]) / max(args.runs - 1, 1)
    per_fit = (rows["keras_fit"][-1][0] - rows["keras_fit"][0][0]) / max(args.runs - 1, 1)
    print(f"graphs alive after each train_run: {[g for g, _ in rows['train_run']]} (+{per_run:.0f} per run)")
    print(f"graphs alive after each plain fit:  {[g for g, _ in rows['keras_fit']]} (+{per_fit:.0f} per fit)")
    print(f"after keras.backend.clear_session(): {rows['after_clear_session'][0]}")
    payload = {"command": "python benchmarks/graph_leak.py " + " ".join(sys.argv[1:]), "runs": args.runs,
               "graphs_and_ops": rows, "graphs_per_train_run": per_run, "graphs_per_plain_fit": per_fit}
    print(write_results(args.name, payload))


if __name__ == "__main__":
    main()
