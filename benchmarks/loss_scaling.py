"""The DDC loss alone (forward + backward) against the batch size m: time and peak memory.

    python benchmarks/loss_scaling.py [--sizes 100 256 512 1024 2048 4096] [--median both]

Each (m, median path, XLA) point runs in a fresh subprocess so its peak resident memory
(``ru_maxrss``) is its own; time is the fastest of several repeats after a warm-up (the
least disturbed by other jobs). ``--median sort`` swaps in the first implementation (a full
sort of the masked m × m matrix), ``selection`` is the library's exact bisection. Writes ``benchmarks/results/loss_scaling.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import write_results

CHILD = r"""
import json, resource, sys, time
import tensorflow as tf
from ddc_tf.losses import ddc as L
m, median, xla, hidden_dim, k = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", 100, 10
if median == "sort":  # the first implementation: a full sort of the masked m x m matrix
    def sort_median(d):
        m = tf.shape(d)[0]
        n_pairs = m * (m - 1) // 2
        masked = tf.where(L._strict_upper_mask(m), d, float("inf"))
        ordered = tf.sort(tf.reshape(masked, [-1]))
        med = 0.5 * (ordered[tf.maximum((n_pairs - 1) // 2, 0)] + ordered[n_pairs // 2])
        return tf.where(n_pairs > 0, med, 0.0)
    L.upper_triangle_median = sort_median
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
@tf.function(jit_compile=xla)
def step(h, z):
    with tf.GradientTape() as tape:
        tape.watch([h, z])
        total = L.ddc_loss(h, tf.nn.softmax(z))["total"]
    return total, tape.gradient(total, [h, z])
h = tf.random.normal([m, hidden_dim]); z = tf.random.normal([m, k])
step(h, z)
repeats = max(5, min(50, int(2e6 // (m * m))))
times = []
for _ in range(repeats):
    start = time.perf_counter()
    step(h, z)[0].numpy()
    times.append(time.perf_counter() - start)
seconds = min(times)  # the least disturbed repeat: the machine is shared
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"m": m, "median": median, "xla": xla, "seconds": seconds,
                  "peak_rss_mb": peak / 1024, "rss_growth_mb": (peak - base) / 1024, "repeats": repeats}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[100, 256, 512, 1024, 2048, 4096])
    parser.add_argument("--median", choices=("sort", "selection", "both"), default="both")
    parser.add_argument("--xla", choices=("off", "on", "both"), default="both")
    args = parser.parse_args()
    medians = ["sort", "selection"] if args.median == "both" else [args.median]
    xlas = {"off": ["0"], "on": ["1"], "both": ["0", "1"]}[args.xla]
    rows = []
    for m in args.sizes:
        for median in medians:
            for xla in xlas:
                out = subprocess.run([sys.executable, "-c", CHILD, str(m), median, xla],
                                     capture_output=True, text=True, check=True)
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(f"m={m:<5} median={median:<9} xla={row['xla']!s:<6} {row['seconds'] * 1000:9.2f} ms"
                      f"  peak RSS {row['peak_rss_mb']:7.0f} MB", flush=True)
    path = write_results("loss_scaling", {"command": "python benchmarks/loss_scaling.py " + " ".join(sys.argv[1:]),
                                          "hidden_dim": 100, "k": 10, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
