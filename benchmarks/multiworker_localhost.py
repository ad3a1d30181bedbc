"""Two-process MultiWorkerMirroredStrategy DDC training on localhost (loopback only).

The launcher picks two free ports on 127.0.0.1, starts two worker processes of this script,
each with its own ``TF_CONFIG``::

    {"cluster": {"worker": ["127.0.0.1:P0", "127.0.0.1:P1"]},
     "task": {"type": "worker", "index": I}}

and waits for both (bounded: ``--timeout`` seconds, then the workers are killed). Each worker
creates ``tf.distribute.MultiWorkerMirroredStrategy()``, builds a DDC model in its scope
(``kernel="global"``: the kernel is formed on the all-gathered global batch of both
processes) and trains it with ``model.fit`` on a small generated data set (three Gaussian
blobs, 2-d → MLP). The workers print their loss history and a checksum of their weights; the
launcher checks that both processes end with identical weights (they are replicas of one
model) and writes ``benchmarks/results/multiworker_localhost.json``.

    python benchmarks/multiworker_localhost.py            # Python API (fit)
    python benchmarks/multiworker_localhost.py --cli      # the same through `ddc-tf fit --strategy multiworker`

On real hosts, run the same worker command on every host with that host's ``TF_CONFIG``
(its own ``task.index``, the same ``cluster``); see ``docs/distributed.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "multiworker_localhost.json"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(args: argparse.Namespace) -> None:
    """One worker process: TF_CONFIG is already in the environment."""
    import numpy as np
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # first TF call: reads TF_CONFIG
    import keras

    from ddc_tf.models import DDC

    task = json.loads(os.environ["TF_CONFIG"])["task"]
    rng = np.random.default_rng(0)  # the same data on every worker; fit shards it
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]], dtype=np.float32)
    x = (centres[rng.integers(0, 3, 600)] + rng.normal(size=(600, 2))).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(x).shuffle(600, seed=0).batch(
        args.batch_size, drop_remainder=True).repeat()

    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = DDC(n_clusters=3, backbone="mlp", hidden_units=32, kernel="global")
        model.build((None, 2))
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    start = time.perf_counter()
    history = model.fit(dataset, epochs=args.epochs, steps_per_epoch=args.steps, verbose=0)
    seconds = time.perf_counter() - start
    checksum = float(sum(float(np.sum(np.abs(w))) for w in model.get_weights()))
    print("WORKER " + json.dumps({
        "index": task["index"],
        "replicas_in_sync": strategy.num_replicas_in_sync,
        "loss": [float(v) for v in history.history["loss"]],
        "weights_abs_sum": checksum,
        "fit_seconds": seconds,
    }), flush=True)


def cli_worker(args: argparse.Namespace) -> None:
    """One worker through the command line: ``ddc-tf fit --strategy multiworker``."""
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    out = Path(args.out_root) / f"worker_{task['index']}"  # one output folder per worker
    from ddc_tf.cli import main as cli_main

    code = cli_main([
        "fit", "--data", "circles", "--clusters", "2", "--steps", str(args.steps * args.epochs),
        "--batch-size", str(args.batch_size), "--strategy", "multiworker", "--quiet",
        "--out", str(out),
    ])
    results = json.loads((out / "results.json").read_text())
    print("WORKER " + json.dumps({"index": task["index"], "exit": code,
                                  "results_keys": sorted(results)[:10]}), flush=True)


def launch(args: argparse.Namespace) -> int:
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    env_base = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
                "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = []
    start = time.perf_counter()
    for index in range(2):
        env = {**env_base, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        command = [sys.executable, __file__, "--role", "worker", "--steps", str(args.steps),
                   "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
                   "--out-root", args.out_root] + (["--cli"] if args.cli else [])
        procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for proc in procs:
            remaining = max(1.0, args.timeout - (time.perf_counter() - start))
            out, err = proc.communicate(timeout=remaining)
            outputs.append((proc.returncode, out, err))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        print(f"timed out after {args.timeout} s; workers killed", file=sys.stderr)
        return 2
    wall = time.perf_counter() - start
    reports = []
    for code, out, err in outputs:
        if code != 0:
            print(err[-3000:], file=sys.stderr)
            return 1
        reports.append(json.loads([l for l in out.splitlines() if l.startswith("WORKER ")][-1][7:]))
    same = None
    if not args.cli:
        same = reports[0]["weights_abs_sum"] == reports[1]["weights_abs_sum"]
    summary = {"mode": "cli" if args.cli else "api", "cluster": cluster, "wall_seconds": wall,
               "workers": reports, "identical_weights": same}
    print(json.dumps(summary, indent=2))
    if not args.cli:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(summary, indent=2))
        print(f"wrote {RESULTS}")
    return 0 if same in (True, None) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("launcher", "worker"), default="launcher")
    parser.add_argument("--cli", action="store_true", help="train through `ddc-tf fit --strategy multiworker`")
    parser.add_argument("--steps", type=int, default=20, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=100, help="global batch size")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before the workers are killed")
    parser.add_argument("--out-root", default="/tmp/ddc_multiworker", help="--cli: output folders")
    args = parser.parse_args()
    if args.role == "worker":
        (cli_worker if args.cli else worker)(args)
        return 0
    return launch(args)


if __name__ == "__main__":
    sys.exit(main())
