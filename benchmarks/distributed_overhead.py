"""Cost of the global DDC kernel under MirroredStrategy: train-step time, kernel="global" vs "local".

Two logical CPU devices on one host (``tf.config.set_logical_device_configuration``), global
batch 100 (50 per replica), the paper's CNN on 28×28×1 (and the MLP on 784-d vectors). Each
configuration runs ``model.fit`` for a fixed number of steps after a warm-up, in interleaved
rounds; a callback records the wall time between consecutive batch ends, and the median of
those step times over all rounds is reported (robust to the shared machine's load spikes and
excluding fit's start-up, e.g. creating the distributed iterator). The
single-device step at the same global batch is timed in the same run for reference.

Logical CPU devices share the same cores, so this measures the *overhead* of the all-gather
and of the global (m × m instead of (m/R)²·R) kernel, not a multi-device speed-up.

    python benchmarks/distributed_overhead.py [--steps 10] [--rounds 3]

Writes ``benchmarks/results/distributed_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from common import StepTimes


RESULTS = Path(__file__).resolve().parent / "results" / "distributed_overhead.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--backbones", nargs="+", default=["conv", "mlp"])
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    from ddc_tf.models import DDC

    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    strategy = tf.distribute.MirroredStrategy(devices)
    rng = np.random.default_rng(0)

    results: dict = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "tf": tf.__version__,
                    "keras": keras.__version__, "load_avg_start": os.getloadavg()},
        "replicas": 2, "global_batch": args.batch, "steps_per_timing": args.steps,
        "rounds": args.rounds, "backbones": {},
    }
    for backbone in args.backbones:
        shape = (28, 28, 1) if backbone == "conv" else (784,)
        x = rng.random((args.batch * 4, *shape), dtype=np.float32)
        ds = tf.data.Dataset.from_tensor_slices(x).batch(args.batch, drop_remainder=True).repeat()

        models = {}
        for name in ("single", "global", "local"):
            keras.utils.set_random_seed(0)
            if name == "single":
                model = DDC(n_clusters=10, backbone=backbone)
                model.build((None, *shape))
                model.compile(optimizer=keras.optimizers.Adam(1e-3))
            else:
                with strategy.scope():
                    model = DDC(n_clusters=10, backbone=backbone, kernel=name)
                    model.build((None, *shape))
                    model.compile(optimizer=keras.optimizers.Adam(1e-3))
            model.fit(ds, epochs=1, steps_per_epoch=3, verbose=0)  # trace + warm up
            models[name] = model

        times: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(args.rounds):
            for name, model in models.items():
                timer = StepTimes()
                model.fit(ds, epochs=1, steps_per_epoch=args.steps, verbose=0, callbacks=[timer])
                times[name].extend(timer.intervals)
        median = {name: float(np.median(t)) for name, t in times.items()}
        results["backbones"][backbone] = {
            "step_seconds": {name: [float(v) for v in t] for name, t in times.items()},
            "median_step_ms": {name: 1e3 * v for name, v in median.items()},
            "global_over_local": median["global"] / median["local"],
            "global_over_single": median["global"] / median["single"],
        }
        print(backbone, json.dumps(results["backbones"][backbone]["median_step_ms"]),
              f"global/local = {median['global'] / median['local']:.3f}", flush=True)
    results["machine"]["load_avg_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
