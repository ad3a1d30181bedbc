"""Peak memory while training from TFRecord shards does not grow with the data set's size.

    python benchmarks/streaming_memory.py [--sizes-mb 200 1000] [--steps 300] [--work /tmp/ddc_stream_mem]

For each size: generates an IDX file of random 28×28 uint8 images of that many MB (written in
chunks, never held in memory), converts it with ``ddc_tf.data.streaming.write_shards``
(chunked), then, in a fresh subprocess, trains the MLP DDC for ``--steps`` steps at batch 100
from ``stream_dataset(..., shuffle=True, repeat=True)`` and reports that process's peak RSS
(``ru_maxrss``) and the RSS sampled every 0.5 s. The in-memory alternative would need
n · 784 · 4 bytes (float32) — also reported. Writes ``benchmarks/results/streaming_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
IMAGE_BYTES = 28 * 28


def make_idx(path: Path, n: int, chunk: int = 20_000) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 0x08, 3]))
        for dim in (n, 28, 28):
            f.write(int(dim).to_bytes(4, "big"))
        done = 0
        while done < n:
            b = min(chunk, n - done)
            f.write(rng.integers(0, 256, size=(b, 28, 28), dtype=np.uint8).tobytes())
            done += b


def train_child(shard_dir: str, steps: int) -> None:
    """Runs in a subprocess: train from the shards, print RSS figures."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        samples.append(int(line.split()[1]) * 1024)
            time.sleep(0.5)

    threading.Thread(target=sample, daemon=True).start()
    import keras

    from ddc_tf.data.streaming import read_meta, stream_dataset
    from ddc_tf.models import DDC

    meta = read_meta(shard_dir)
    ds = stream_dataset(shard_dir, batch_size=100, shuffle=True, seed=0, drop_remainder=True,
                        with_labels=False, repeat=True)
    keras.utils.set_random_seed(0)
    model = DDC(10, backbone="mlp")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    start = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
    seconds = time.perf_counter() - start
    stop.set()
    print("CHILD " + json.dumps({
        "n": meta["n"], "steps": steps, "fit_seconds": seconds,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "rss_samples_max": max(samples) if samples else None,
        "rss_samples_last": samples[-1] if samples else None,
    }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[200, 1000])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--work", default="/tmp/ddc_stream_mem")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        train_child(args.child, args.steps)
        return
    sys.path.insert(0, str(ROOT))
    from ddc_tf.data.streaming import write_shards

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for mb in args.sizes_mb:
        n = int(mb * 1e6 // IMAGE_BYTES)
        idx = work / f"gen{int(mb)}-images-idx3-ubyte"
        shards = work / f"shards{int(mb)}"
        start = time.perf_counter()
        make_idx(idx, n)
        meta = write_shards(idx, shards, examples_per_shard=20_000, overwrite=True)
        prep = time.perf_counter() - start
        idx.unlink()
        on_disk = sum(p.stat().st_size for p in shards.glob("shard-*.tfrecord"))
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        out = subprocess.run([sys.executable, __file__, "--child", str(shards), "--steps", str(args.steps)],
                             capture_output=True, text=True, env=env, timeout=3600)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        child = json.loads([l for l in out.stdout.splitlines() if l.startswith("CHILD ")][-1][6:])
        row = {"size_mb_target": mb, "n": meta["n"], "shard_bytes_on_disk": on_disk,
               "in_memory_float32_bytes": meta["n"] * IMAGE_BYTES * 4, "prepare_seconds": prep, **child}
        rows.append(row)
        print(f"{mb:6.0f} MB target: n={meta['n']}, {on_disk / 1e6:.0f} MB of shards, "
              f"peak RSS {child['peak_rss_bytes'] / 1e6:.0f} MB "
              f"(in memory as float32 it would be {row['in_memory_float32_bytes'] / 1e6:.0f} MB)", flush=True)
        if not args.keep:
            shutil.rmtree(shards)
    sys.path.insert(0, str(HERE))
    from common import write_results

    path = write_results("streaming_memory", {
        "rows": rows,
        "peak_rss_ratio_largest_over_smallest": rows[-1]["peak_rss_bytes"] / rows[0]["peak_rss_bytes"],
        "command": "python benchmarks/streaming_memory.py " + " ".join(sys.argv[1:]),
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
