"""Training curves (the paper's Fig. 9a) of one run: loss, its terms and ACC during training.

    python benchmarks/curves.py --preset digits-cpu --seed 0 --every 50

Trains one run of the preset with ``ddc_tf.callbacks.TrainingCurves`` (evaluated every
``--every`` steps on a fixed subset of 2 000 points) and writes
``benchmarks/results/curves_<data>.csv`` and ``.png`` (each curve rescaled to [0, 1], as
the paper's figure), plus ``curves_<data>.json`` with the correlation of the loss and ACC
over the logged steps.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from scipy.stats import spearmanr

from common import RESULTS_DIR, write_results
from ddc_tf import data as ddc_data
from ddc_tf.callbacks import TrainingCurves, read_curves
from ddc_tf.viz.plots import plot_training_curves
from ddc_tf.experiments.presets import get_preset
from ddc_tf.experiments.training import train_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="digits-cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    args = parser.parse_args()

    preset = get_preset(args.preset)
    arrays = ddc_data.load_arrays(preset.source)
    config = preset.config(arrays.n_classes, **({"steps": args.steps} if args.steps else {}))
    name = f"curves_{preset.source}"
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "curves.csv"
        curves = TrainingCurves(arrays.x, arrays.y, every=args.every, batch_size=config.batch_size,
                                csv_path=csv_path)
        train_run(arrays, config, args.seed, verbose=0, callbacks=[curves])
        shutil.copyfile(csv_path, RESULTS_DIR / f"{name}.csv")
    plot_training_curves(RESULTS_DIR / f"{name}.csv", RESULTS_DIR / f"{name}.png")
    c = read_curves(RESULTS_DIR / f"{name}.csv")
    rho = float(spearmanr(c["loss"], c["acc"]).statistic)
    late = c["step"] >= c["step"].max() / 2
    rho_late = float(spearmanr(c["loss"][late], c["acc"][late]).statistic)
    print(f"loss–ACC Spearman over training {rho:.3f} (second half {rho_late:.3f}); final ACC {c['acc'][-1]:.4f}")
    write_results(name, {
        "command": "python benchmarks/curves.py " + " ".join(sys.argv[1:]),
        "preset": preset.name, "seed": args.seed, "steps": config.steps, "every": args.every,
        "loss_acc_spearman": rho, "loss_acc_spearman_second_half": rho_late,
        "acc_first_logged": float(c["acc"][0]), "acc_final": float(c["acc"][-1]),
        "acc_max": float(np.nanmax(c["acc"])), "csv": f"{name}.csv", "png": f"{name}.png",
    })


if __name__ == "__main__":
    main()
