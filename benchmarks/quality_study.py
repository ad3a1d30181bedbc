"""Why does the vector (MLP) path lose to k-means, and what fixes it? One setting at a time.

Every setting changes a few ``TrainConfig`` fields against ``baseline`` (the defaults of
``ddc-tf fit`` before this study: batch 100, Adam 1e-3, no clipping, 500 hidden units for
the MLP) and trains the same seeds on every data set, so the comparison is paired. Each
row reports the runs' mean ± std of ACC/NMI beside the run the protocol's default selector
picks, DDC-VOTE and DDC-ENSEMBLE — a setting is only worth keeping if it helps on more
than one data set.

    python benchmarks/quality_study.py --data digits 20news --seeds 5 --steps 2000 \
        --settings baseline hidden100 batch256 clip5 --name quality_screen

Runs are kept under ``outputs/quality/<name>/<data>/<setting>/`` (repeating the command
trains nothing twice; each run's cluster ids are there for ``benchmarks/selection.py``),
and the table goes to ``benchmarks/results/<name>.json`` after every setting (the file
accumulates over invocations: each (data, setting) row is replaced when trained again).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import BACKBONES, RESULTS_DIR, imbalance, subsample, write_results
from ddc_tf import data as ddc_data
from ddc_tf.baselines import kmeans_baseline
from ddc_tf.experiments.protocol import run_protocol
from ddc_tf.experiments.training import TrainConfig

#: Named settings: ``TrainConfig`` overrides against the pre-study defaults. The key
#: ``input_rms`` (not a TrainConfig field) rescales the inputs so that the root mean square
#: of their entries over the data set is that value (``x · c``, recorded in ``data.scale``).
SETTINGS: dict[str, dict] = {
    "baseline": {},
    "hidden100": {"hidden_units": 100},
    "batch256": {"batch_size": 256},
    "batch512": {"batch_size": 512},
    "lr3e-4": {"learning_rate": 3e-4},
    "lr1e-4": {"learning_rate": 1e-4},
    "cosine": {"lr_schedule": "cosine"},
    "clip5": {"clipnorm": 5.0},
    "sigma0.3": {"rel_sigma": 0.3},
    "sigma0.05": {"rel_sigma": 0.05},
    "sigma0.6": {"rel_sigma": 0.6},
    "sigma1.5": {"rel_sigma": 1.5},
    "paper_sigma": {"sigma_mode": "paper"},
    "paper_mlp": {"learning_rate": 1e-5},
    "w2_0.5": {"loss_weights": (1.0, 0.5, 1.0)},
    "w2_0.25": {"loss_weights": (1.0, 0.25, 1.0)},
    "w2_0": {"loss_weights": (1.0, 0.0, 1.0)},
    "w1_0.5": {"loss_weights": (0.5, 1.0, 1.0)},
    "w1_0": {"loss_weights": (0.0, 1.0, 1.0)},
    "w1_2": {"loss_weights": (2.0, 1.0, 1.0)},
    "steps6000": {"steps": 6000},
    "drop0.2": {"input_dropout": 0.2},
    "drop0.5": {"input_dropout": 0.5},
    "wd1e-2": {"weight_decay": 1e-2},
    "wd1e-1": {"weight_decay": 1e-1},
    "rms1": {"input_rms": 1.0},
    "rms1_lr3e-4": {"input_rms": 1.0, "learning_rate": 3e-4},
    "rms1_hidden100": {"input_rms": 1.0, "hidden_units": 100},
    "lr3e-4_steps6000": {"learning_rate": 3e-4, "steps": 6000},
    "lr1e-4_steps10000": {"learning_rate": 1e-4, "steps": 10000},
    "lr3e-5_steps15000": {"learning_rate": 3e-5, "steps": 15000},
    "lr1e-5_steps30000": {"learning_rate": 1e-5, "steps": 30000},
    "hidden100_batch256": {"hidden_units": 100, "batch_size": 256},
    "hidden100_batch256_clip5": {"hidden_units": 100, "batch_size": 256, "clipnorm": 5.0},
    "batch256_cosine": {"batch_size": 256, "lr_schedule": "cosine"},
    "batch256_clip5": {"batch_size": 256, "clipnorm": 5.0},
    # the sibling methods (issue: make them contenders): their defaults, then one knob each
    "ot": {"method": "ot"},
    "ot_eps0.003": {"method": "ot", "epsilon": 0.003},
    "ot_eps0.03": {"method": "ot", "epsilon": 0.03},
    "ot_rec0.3": {"method": "ot", "model_options": {"reconstruction_weight": 0.3}},
    "ot_rec3": {"method": "ot", "model_options": {"reconstruction_weight": 3.0}},
    "ot_iter10": {"method": "ot", "model_options": {"iterations": 10}},
    "ot_free": {"method": "ot", "proportions": None},
    "ot_pre1000": {"method": "ot", "pretrain_steps": 1000},
    "dcan": {"method": "dcan"},
    "dcan_sep3": {"method": "dcan", "model_options": {"separation": 3.0}},
    "dcan_sep6": {"method": "dcan", "model_options": {"separation": 6.0}},
    "dcan_rec0.3": {"method": "dcan", "model_options": {"reconstruction_weight": 0.3}},
    "dcan_rec3": {"method": "dcan", "model_options": {"reconstruction_weight": 3.0}},
    "dcan_nonsat": {"method": "dcan", "model_options": {"encoder_loss": "non_saturating"}},
    "dcan_lr3e-4": {"method": "dcan", "learning_rate": 3e-4},
    "dcan_pre1000": {"method": "dcan", "pretrain_steps": 1000},
    # neighbour consistency (README "Beating k-means", item 8): k input-space neighbours, weight w4
    "nbr5": {"neighbors": 5},
    "nbr10": {"neighbors": 10},
    "nbr20": {"neighbors": 20},
    "nbr10_w0.3": {"neighbors": 10, "neighbor_weight": 0.3},
    "nbr10_w0.5": {"neighbors": 10, "neighbor_weight": 0.5},
    "nbr10_w2": {"neighbors": 10, "neighbor_weight": 2.0},
    # the balance term beside the neighbour term (README "Beating k-means", item 12)
    "nbr5_bal1": {"neighbors": 5, "balance_weight": 1.0},
    "nbr10_bal1": {"neighbors": 10, "balance_weight": 1.0},
    # the k-means start (README "Beating k-means", item 9): the network first fitted to a k-means++ partition
    "nbr5_km300": {"neighbors": 5, "kmeans_init": 300},
    "km300": {"kmeans_init": 300},
    # the siblings' neighbour term (latent distance of neighbours, ddc_tf.losses.neighbor_distance)
    "ot_nbr10": {"method": "ot", "neighbors": 10},
    "ot_nbr10_w0.3": {"method": "ot", "neighbors": 10, "neighbor_weight": 0.3},
    "ot_nbr10_w3": {"method": "ot", "neighbors": 10, "neighbor_weight": 3.0},
    "dcan_nbr10": {"method": "dcan", "neighbors": 10, "neighbor_weight": 1.0},  # DCAN's default weight is 0.1
    "dcan_nbr10_w0.1": {"method": "dcan", "neighbors": 10, "neighbor_weight": 0.1},
    "dcan_nbr10_w0.3": {"method": "dcan", "neighbors": 10, "neighbor_weight": 0.3},
    "dcan_nbr10_w0.03": {"method": "dcan", "neighbors": 10, "neighbor_weight": 0.03},
    "ot_pre1000_nbr10": {"method": "ot", "pretrain_steps": 1000, "neighbors": 10},
    # ε-scaling in Sinkhorn (ε from 1 to 0.01 over the first 20 of the 50 iterations): the same
    # iterations much nearer the fixed point (benchmarks/sinkhorn_convergence.py)
    "ot_anneal": {"method": "ot", "model_options": {"epsilon_start": 1.0}},
    "ot_pre1000_nbr10_anneal": {"method": "ot", "pretrain_steps": 1000, "neighbors": 10,
                                "model_options": {"epsilon_start": 1.0}},
    "dcan_pre1000_nbr10_w0.1": {"method": "dcan", "pretrain_steps": 1000, "neighbors": 10, "neighbor_weight": 0.1},
}


def rescale_to_rms(data, rms: float):
    """``data`` with inputs multiplied by ``c`` so that the RMS of all entries is ``rms``."""
    x = data.x
    mean_square = float(x.multiply(x).sum() / np.prod(x.shape)) if data.is_sparse else float(np.mean(np.square(x)))
    factor = np.float32(rms / np.sqrt(mean_square))
    return dataclasses.replace(data, x=(x * factor).astype(np.float32), scale=data.scale * float(factor))


def summarise(results: dict) -> dict:
    """The row of one (data, setting): per-run figures, the pick, VOTE, mean ± std."""
    return {
        "runs": [{k: r[k] for k in ("seed", "loss", "acc", "nmi", "terms", "cluster_sizes", "seconds")}
                 for r in results["runs"]],
        "selector": results["selector"],
        "best": results["best"],
        "vote": results["vote"],
        "ensemble": results["ensemble"],
        "distilled": results.get("distilled"),
        "summary": results["summary"],
    }


def markdown(results_file: Path) -> str:
    """The README's table from a results file: one line per setting, per data set the runs'
    mean ± std ACC (NMI mean), the default selector's pick and DDC-ENSEMBLE."""
    payload = json.loads(results_file.read_text())
    datasets = sorted({r["data"] for r in payload["rows"]})
    settings = list(dict.fromkeys(r["setting"] for r in payload["rows"]))
    by_key = {(r["data"], r["setting"]): r for r in payload["rows"]}
    header = "| setting | " + " | ".join(f"{d}: runs ACC mean ± std (NMI) / pick / ENSEMBLE" for d in datasets) + " |"
    lines = [header, "|" + " --- |" * (1 + len(datasets))]
    for setting in settings:
        cells = []
        for d in datasets:
            row = by_key.get((d, setting))
            if row is None:
                cells.append("–")
                continue
            s, ens = row["summary"], row.get("ensemble") or {}
            cells.append(f"{s['acc_mean']:.3f} ± {s['acc_std']:.3f} ({s['nmi_mean']:.3f}) / "
                         f"{row['best']['acc']:.3f} / {ens.get('acc', float('nan')):.3f}")
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    km = payload.get("kmeans", {})
    lines.append("| k-means++ (best of 20) | " + " | ".join(
        f"{km[d]['acc']:.3f} ({km[d]['nmi']:.3f})" if d in km else "–" for d in datasets) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["digits", "20news"])
    parser.add_argument("--settings", nargs="+", default=["baseline"], choices=sorted(SETTINGS))
    parser.add_argument("--seeds", type=int, default=5, help="runs per setting (seeds 0 … N-1)")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--subset", type=int, default=None, help="a seeded random subset of this many points")
    parser.add_argument("--imbalance", type=float, nargs="+", default=None, metavar="FRACTION",
                        help="keep this fraction of each class (one per class, e.g. 1 0.5 0.25 0.12)")
    parser.add_argument("--name", default="quality_study", help="results file name")
    parser.add_argument("--distill-steps", type=int, default=0,
                        help="also fine-tune the chosen run on DDC-ENSEMBLE this many steps (DDC-DISTILLED)")
    parser.add_argument("--out", default="outputs/quality", help="where runs are kept")
    parser.add_argument("--markdown", action="store_true", help="print the table of the results file and exit")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(RESULTS_DIR / f"{args.name}.json"))
        return

    command = "python benchmarks/quality_study.py " + " ".join(sys.argv[1:])
    # the results file accumulates: rows of earlier invocations (other data sets or
    # settings) are kept, a (data, setting) trained again replaces its row
    previous = RESULTS_DIR / f"{args.name}.json"
    earlier = json.loads(previous.read_text()) if previous.exists() else {}
    rows, kmeans = earlier.get("rows", []), earlier.get("kmeans", {})
    commands = earlier.get("commands", [])
    if command not in commands:
        commands.append(command)
    for name in args.data:
        data = subsample(ddc_data.load_arrays(name), args.subset)
        class_sizes = None
        if args.imbalance:
            data, class_sizes = imbalance(data, args.imbalance)
        k = data.n_classes
        x = data.x if data.is_sparse else data.x.reshape(data.n, -1)
        kmeans[name] = kmeans_baseline(x, data.y, k, seed=0)
        kmeans[name].pop("labels", None)
        kmeans[name]["class_sizes"] = class_sizes
        print(f"{name}: n={data.n} k={k} k-means++ ACC {kmeans[name]['acc']:.3f} NMI {kmeans[name]['nmi']:.3f}", flush=True)
        for setting in args.settings:
            config = TrainConfig(n_clusters=k, backbone=BACKBONES.get(name, "auto"), steps=args.steps)
            overrides = dict(SETTINGS[setting])
            run_data = data
            if "input_rms" in overrides:
                run_data = rescale_to_rms(data, overrides.pop("input_rms"))
            config = dataclasses.replace(config, **overrides)
            start = time.perf_counter()
            folder = Path(args.out) / args.name / name / setting
            results, _ = run_protocol(run_data, config, runs=args.seeds, seed=0, verbose=0, out_dir=folder,
                                      distill_steps=args.distill_steps)
            np.save(folder / "labels.npy", data.y)  # for benchmarks/selection.py
            row = {"data": name, "setting": setting, "overrides": SETTINGS[setting],
                   "config": config.to_dict(), **summarise(results),
                   "seconds": round(time.perf_counter() - start, 1)}
            rows = [r for r in rows if (r["data"], r["setting"]) != (name, setting)] + [row]
            s = results["summary"]
            print(f"  {setting:28s} mean {s['acc_mean']:.3f} ± {s['acc_std']:.3f} (NMI {s['nmi_mean']:.3f}) "
                  f"max {s['acc_max']:.3f} | {results['selector']} pick {results['best']['acc']:.3f} "
                  f"| vote {results['vote']['acc'] if results['vote'] else float('nan'):.3f} "
                  f"| ensemble {results['ensemble']['acc'] if results['ensemble'] else float('nan'):.3f} "
                  f"/ {results['ensemble']['nmi'] if results['ensemble'] else float('nan'):.3f} "
                  + (f"| distilled {results['distilled']['acc']:.3f} / {results['distilled']['nmi']:.3f} "
                     if results.get("distilled") else "") +
                  f"| spearman {s['loss_acc_spearman']} | {row['seconds']:.0f} s", flush=True)
            write_results(args.name, {"commands": commands, "steps": args.steps, "seeds": args.seeds,
                                      "subset": args.subset, "imbalance": args.imbalance,
                                      "kmeans": kmeans, "rows": rows})


if __name__ == "__main__":
    main()
