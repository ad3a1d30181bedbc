"""Examples per second of each `ddc_tf.data` pipeline, next to the DDC training step's rate.

    python benchmarks/data_throughput.py [--batch 100] [--seconds 3] [--steps 30]

Pipelines (batch 100, shuffled, labels included, as `model.fit` would read them):
- `digits`: in-memory dense vectors (1 797 x 64);
- `fashion_mnist` (IDX): in-memory images 70 000 x 28x28x1 from Debian's IDX files;
- `fashion_mnist` (shards): the same streamed from TFRecord shards (`write_shards`);
- `20news`: sparse CSR TF-IDF 16 075 x 2 000, densified per batch;
- an image folder: generated 64x64 RGB PNG crops, decoded and resized to 28x28 by
  `load_arrays` (its decode rate is reported separately), then served from memory.

Each pipeline is iterated in Python (as Keras' `fit` does) for `--seconds` after a warm-up
batch. `prepare_seconds` is the time to load it into memory (decode, scale) or, for the
shards, to write them. The training rate is `DDC.fit` (float32, no XLA) on a repeated
constant batch (no input cost), and again on the real pipeline, timed from the end of the
first step to the end of the last, for the backbone the data set would use. Writes
`benchmarks/results/data_throughput.json`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from common import write_results  # noqa: E402
from ddc_tf.data import load_arrays, stream_dataset, to_dataset, write_shards  # noqa: E402


def pipeline_rate(dataset: tf.data.Dataset, seconds: float) -> dict[str, float]:
    """Examples/s of iterating `dataset` (repeated) for about `seconds` after one warm-up batch."""
    iterator = iter(dataset.repeat())
    next(iterator)
    count, batches, start = 0, 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        batch = next(iterator)
        x = batch[0] if isinstance(batch, tuple) else batch
        count += int(x.shape[0])
        batches += 1
    return {"examples_per_second": round(count / elapsed, 1), "batches": batches}


def training_rate(
    dataset: tf.data.Dataset | None, input_shape: tuple[int, ...], backbone: str, k: int, steps: int, batch: int
) -> float | None:
    """Examples/s of `DDC.fit` steps; a repeated constant batch when `dataset` is None."""
    try:
        import keras

        from ddc_tf.models import DDC
    except ImportError:  # the model is not there: no comparison
        return None
    keras.utils.set_random_seed(0)
    if dataset is None:
        x = np.random.default_rng(0).random((batch, *input_shape), dtype=np.float32)
        dataset = tf.data.Dataset.from_tensors(x).repeat()
    else:
        dataset = dataset.repeat()
    model = DDC(k, backbone=backbone)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(dataset, steps_per_epoch=5, epochs=1, verbose=0)  # trace

    class Clock(keras.callbacks.Callback):
        """Time at the end of every step: the rate excludes iterator start-up."""

        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_train_batch_end(self, batch_index: int, logs: dict | None = None) -> None:
            self.times.append(time.perf_counter())

    clock = Clock()
    model.fit(dataset, steps_per_epoch=steps + 1, epochs=1, verbose=0, callbacks=[clock])
    return round(steps * batch / (clock.times[-1] - clock.times[0]), 1)


def write_crops(folder: Path, n_per_class: int, seed: int = 0) -> None:
    """Random 64x64 RGB PNG crops in three class folders (a SEALS-like layout)."""
    rng = np.random.default_rng(seed)
    for cls in ("background", "harp", "hooded"):
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i, crop in enumerate(rng.integers(0, 256, (n_per_class, 64, 64, 3), dtype=np.uint8)):
            Image.fromarray(crop).save(folder / cls / f"{i:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent iterating each pipeline")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps (0: skip training)")
    parser.add_argument("--crops", type=int, default=1000, help="PNG crops per class in the image folder")
    args = parser.parse_args()
    batch = args.batch
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        cases = []  # (name, pipeline, seconds to load or convert, data, backbone)

        def timed_load(source, **options):
            start = time.perf_counter()
            data = load_arrays(source, **options)
            return data, time.perf_counter() - start

        digits, t = timed_load("digits")
        cases.append(("digits (dense vectors, memory)", to_dataset(digits, batch_size=batch), t, digits, "mlp"))
        try:
            fashion, t = timed_load("fashion_mnist", backend="idx")
        except FileNotFoundError as err:
            print(f"skipping fashion_mnist: {err}")
            fashion = None
        if fashion is not None:
            cases.append(("fashion_mnist IDX (images, memory)", to_dataset(fashion, batch_size=batch), t, fashion, "conv"))
            start = time.perf_counter()
            write_shards(fashion, tmp_path / "shards", examples_per_shard=10_000)
            t = time.perf_counter() - start
            cases.append(
                ("fashion_mnist TFRecord shards (images, streamed)", stream_dataset(tmp_path / "shards", batch_size=batch), t, fashion, "conv")
            )
        try:
            news, t = timed_load("20news")
            cases.append(("20news (sparse CSR, densified per batch)", to_dataset(news, batch_size=batch), t, news, "mlp"))
        except FileNotFoundError as err:
            print(f"skipping 20news: {err}")
        write_crops(tmp_path / "crops", args.crops)
        crops, t = timed_load(tmp_path / "crops", image_size=28, color="rgb")
        cases.append(("image folder (PNG 64x64 -> 28x28 RGB, memory)", to_dataset(crops, batch_size=batch), t, crops, "conv"))

        for name, dataset, load_s, data, backbone in cases:
            rate = pipeline_rate(dataset, args.seconds)
            row = {
                "pipeline": name,
                "n": data.n,
                "input_shape": list(data.input_shape),
                "prepare_seconds": round(load_s, 3),
                "prepare_examples_per_second": round(data.n / load_s, 1),
                **rate,
                "backbone": backbone,
            }
            if args.steps:
                k = data.n_classes or 10
                row["train_examples_per_second_constant_batch"] = training_rate(
                    None, data.input_shape, backbone, k, args.steps, batch
                )
                row["train_examples_per_second_this_pipeline"] = training_rate(
                    dataset, data.input_shape, backbone, k, args.steps, batch
                )
                if row["train_examples_per_second_constant_batch"]:
                    row["pipeline_over_training"] = round(
                        rate["examples_per_second"] / row["train_examples_per_second_constant_batch"], 1
                    )
            rows.append(row)
            print(
                f"{name:<52}{rate['examples_per_second']:>11,.0f} ex/s"
                + (
                    f"   train {row['train_examples_per_second_constant_batch']:>7,.0f} ex/s (constant batch), "
                    f"{row['train_examples_per_second_this_pipeline']:>7,.0f} ex/s (this pipeline)"
                    if args.steps and row.get("train_examples_per_second_constant_batch")
                    else ""
                )
                + f"   prepare {load_s:.2f} s",
                flush=True,
            )
    path = write_results(
        "data_throughput",
        {
            "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
            "batch_size": batch,
            "seconds_per_pipeline": args.seconds,
            "train_steps": args.steps,
            "note": "pipeline rates: Python iteration of the tf.data pipeline (shuffled, with labels); "
            "training rates: DDC.fit, float32, no XLA, timed over the steps after the first. The 2 cores "
            "were shared with other jobs: training rates varied up to 2x between repeats (an A/B of "
            "constant batch vs pipeline, 3 repeats, showed no systematic gap), so read the ratio "
            "pipeline_over_training as an order of magnitude.",
            "results": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
