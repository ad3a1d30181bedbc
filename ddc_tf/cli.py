"""``ddc-tf``: the command line.

    ddc-tf fit --data SOURCE [--clusters K] [--steps N] [--runs R] [--out DIR] ...
    ddc-tf demo [--out DIR]

Each sub-command lives in its own function ``_cmd_<name>``; ``build_parser`` wires them.
Other modules may add sub-commands through ``EXTRA_COMMANDS`` (module paths whose
``register(subparsers)`` adds a parser with ``set_defaults(func=...)``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

# TensorFlow's C++ start-up chatter hides the output users came for.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Modules that add sub-commands (each has ``register(subparsers)``); missing ones are skipped.
EXTRA_COMMANDS: tuple[str, ...] = ("ddc_tf.commands_export",)


def _format(value: float | None, pattern: str) -> str:
    return "—" if value is None else format(value, pattern)


def print_results_table(results: dict[str, Any], kmeans: dict[str, Any] | None = None) -> None:
    """A short plain-text table of a protocol's results (one line per run, then the summary)."""
    print(f"\n{results['data']}: n={results['n']}, k={results['clusters']}, steps={results['steps']}")
    print(f"{'run (seed)':<14}{'loss':>10}{'ACC':>9}{'NMI':>8}")
    for run in sorted(results["runs"], key=lambda r: r["loss"]):
        mark = "  ← lowest loss" if run["seed"] == results["best"]["seed"] else ""
        print(
            f"{run['seed']:<14}{run['loss']:>10.4f}{_format(run['acc'], '>9.4f')}"
            f"{_format(run['nmi'], '>8.4f')}{mark}"
        )
    best = results["best"]
    print(f"{'DDC (best)':<14}{best['loss']:>10.4f}{_format(best['acc'], '>9.4f')}{_format(best['nmi'], '>8.4f')}")
    if results.get("vote"):
        vote = results["vote"]
        print(f"{'DDC-VOTE':<14}{'':>10}{_format(vote['acc'], '>9.4f')}{_format(vote['nmi'], '>8.4f')}")
    if results.get("summary"):
        s = results["summary"]
        print(
            f"{'all runs':<14}{'':>10}  ACC {s['acc_mean']:.4f} ± {s['acc_std']:.4f} (max {s['acc_max']:.4f}),"
            f" NMI {s['nmi_mean']:.4f} ± {s['nmi_std']:.4f}"
        )
    if kmeans is not None:
        print(f"{'k-means++':<14}{'':>10}{_format(kmeans['acc'], '>9.4f')}{_format(kmeans['nmi'], '>8.4f')}")


def _set_precision(policy: str | None) -> None:
    if policy:
        import keras

        keras.mixed_precision.set_global_policy(f"mixed_{policy}")


def _cmd_fit(args: argparse.Namespace) -> int:
    from ddc_tf import baselines, data
    from ddc_tf.protocol import RESULTS_FILE, run_protocol
    from ddc_tf.training import TrainConfig

    arrays = data.load_arrays(args.data, n_clusters=args.clusters)
    n_clusters = args.clusters or arrays.n_classes
    if n_clusters is None:
        raise SystemExit(f"ddc-tf fit: {args.data} has no labels; give the number of clusters with --clusters K")
    data.check_n_clusters(arrays, n_clusters)
    _set_precision(args.mixed_precision)
    config = TrainConfig(
        n_clusters=n_clusters,
        backbone=args.backbone,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        rel_sigma=args.rel_sigma,
        sigma_mode=args.sigma_mode,
        loss_weights=tuple(args.weights),
        jit_compile=args.jit,
    )
    out = Path(args.out)
    callbacks_for = None
    if args.tensorboard:
        import keras

        def callbacks_for(seed: int) -> list:
            return [keras.callbacks.TensorBoard(log_dir=str(out / "logs" / f"seed_{seed}"))]

    results, _ = run_protocol(
        arrays,
        config,
        runs=args.runs,
        seed=args.seed,
        out_dir=out,
        verbose=0 if args.quiet else "auto",
        callbacks_for=callbacks_for,
    )
    kmeans = None
    if args.kmeans:
        x = arrays.x.reshape(arrays.n, -1) if not arrays.is_sparse else arrays.x
        km = baselines.kmeans_baseline(x, arrays.y, n_clusters, seed=args.seed)
        kmeans = {"acc": km["acc"], "nmi": km["nmi"]}
        results["kmeans"] = kmeans
        (out / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n")
    print_results_table(results, kmeans)
    print(f"\nresults: {out / RESULTS_FILE}\nbest model: {out / 'model.keras'}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ddc_tf.demo import run_demo

    run_demo(out_dir=args.out, steps=args.steps)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ddc_tf import __version__
    from ddc_tf.losses import DEFAULT_REL_SIGMA, DEFAULT_SIGMA_MODE, SIGMA_MODES

    parser = argparse.ArgumentParser(
        prog="ddc-tf", description="Deep Divergence-based Clustering (Kampffmeyer et al. 2019) in Keras."
    )
    parser.add_argument("--version", action="version", version=f"ddc_tf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser(
        "fit",
        help="train DDC (R runs, lowest-loss run, DDC-VOTE) and write results.json",
        description="Train R DDC runs on a data set; report the lowest-loss run and DDC-VOTE.",
    )
    fit.add_argument("--data", required=True, help="a named data set (digits, circles, fashion_mnist, ...) or a path (.npz, IDX folder, image folder)")
    fit.add_argument("--clusters", type=int, default=None, help="number of clusters k (default: the number of classes)")
    fit.add_argument("--steps", type=int, default=3000, help="training mini-batches per run (paper: 70000; default 3000)")
    fit.add_argument("--batch-size", type=int, default=100, help="mini-batch size (paper: 100)")
    fit.add_argument("--runs", type=int, default=1, help="independent runs R; ≥ 3 adds DDC-VOTE (paper: 20)")
    fit.add_argument("--seed", type=int, default=0, help="seed of the first run (run r uses seed + r)")
    fit.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the paper's, 1e-3 conv / 1e-5 mlp)")
    fit.add_argument("--backbone", choices=("auto", "conv", "mlp"), default="auto", help="network (auto: conv for images ≥ 16×16, else mlp)")
    fit.add_argument("--sigma-mode", choices=SIGMA_MODES, default=DEFAULT_SIGMA_MODE, help="bandwidth convention (see README)")
    fit.add_argument("--rel-sigma", type=float, default=DEFAULT_REL_SIGMA, help="relative bandwidth (paper: 0.15)")
    fit.add_argument("--weights", type=float, nargs=3, default=(1.0, 1.0, 1.0), metavar=("W1", "W2", "W3"), help="weights of l1 l2 l3 (0 switches a term off)")
    fit.add_argument("--mixed-precision", choices=("bfloat16", "float16"), default=None, help="run the network in mixed precision (loss stays float32)")
    fit.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    fit.add_argument("--kmeans", action="store_true", help="also report k-means++ (best of 20) on the raw inputs")
    fit.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs to OUT/logs/seed_S")
    fit.add_argument("--out", default="outputs/fit", help="output folder (results.json, model.keras, runs/)")
    fit.add_argument("--quiet", action="store_true", help="no progress bars")
    fit.set_defaults(func=_cmd_fit)

    demo = sub.add_parser("demo", help="the embedded offline demo: digits and circles, DDC vs k-means")
    demo.add_argument("--out", default="outputs/demo", help="output folder")
    demo.add_argument("--steps", type=int, default=None, help="override the demo's step budgets")
    demo.set_defaults(func=_cmd_demo)

    for module_name in EXTRA_COMMANDS:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as error:
        print(f"ddc-tf {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
