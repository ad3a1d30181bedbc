"""``ddc-tf``: the command line.

    ddc-tf fit --data SOURCE [--clusters K] [--steps N] [--runs R] [--out DIR] ...
    ddc-tf fit --preset NAME [any flag overrides the preset]
    ddc-tf ablation --data SOURCE [--repeats 5] [--runs 20] [--out DIR] ...
    ddc-tf table --results FILE_OR_DIR ... --out DIR
    ddc-tf presets
    ddc-tf demo [--out DIR]

Each sub-command lives in its own function ``_cmd_<name>``; ``build_parser`` wires them.
Other modules may add sub-commands through ``EXTRA_COMMANDS`` (module paths whose
``register(subparsers)`` adds a parser with ``set_defaults(func=...)``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Any, Sequence

# TensorFlow's C++ start-up chatter hides the output users came for.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Modules that add sub-commands (each has ``register(subparsers)``); missing ones are skipped.
EXTRA_COMMANDS: tuple[str, ...] = ("ddc_tf.commands_export", "ddc_tf.commands_plot")


def positive_int(text: str) -> int:
    """argparse ``type=``: a whole number ≥ 1, with a message naming what came in."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def vote_count(text: str) -> int:
    """argparse ``type=`` of ``--vote-runs``: a whole number ≥ 2 (a vote needs two runs)."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"a vote needs at least 2 runs, got {value}")
    return value


def _format(value: float | None, pattern: str) -> str:
    return "—" if value is None else format(value, pattern)


def print_results_table(results: dict[str, Any], kmeans: dict[str, Any] | None = None) -> None:
    """A short plain-text table of a protocol's results (one line per run, then the summary)."""
    print(f"\n{results['data']}: n={results['n']}, k={results['clusters']}, steps={results['steps']}")
    print(f"{'run (seed)':<14}{'loss':>10}{'ACC':>9}{'NMI':>8}")
    selector = results.get("selector", "loss")
    for run in sorted(results["runs"], key=lambda r: r["loss"]):
        mark = f"  ← chosen ({selector})" if run["seed"] == results["best"]["seed"] else ""
        print(
            f"{run['seed']:<14}{run['loss']:>10.4f}{_format(run['acc'], '>9.4f')}"
            f"{_format(run['nmi'], '>8.4f')}{mark}"
        )
    best = results["best"]
    label = results.get("config", {}).get("method", "ddc").upper()
    print(f"{label + ' (best)':<14}{best['loss']:>10.4f}{_format(best['acc'], '>9.4f')}{_format(best['nmi'], '>8.4f')}")
    if results.get("vote"):
        vote = results["vote"]
        print(f"{label + '-VOTE':<14}{'':>10}{_format(vote['acc'], '>9.4f')}{_format(vote['nmi'], '>8.4f')}"
              f"  (best {len(vote.get('seeds', ())) or 3} runs)")
    if results.get("ensemble"):
        combined = results["ensemble"]
        print(f"{label + '-ENSEMBLE':<14}{'':>10}{_format(combined['acc'], '>9.4f')}{_format(combined['nmi'], '>8.4f')}"
              f"  (consensus of all {len(combined['seeds'])} runs)")
    if results.get("summary"):
        s = results["summary"]
        print(
            f"{'all runs':<14}{'':>10}  ACC {s['acc_mean']:.4f} ± {s['acc_std']:.4f} (max {s['acc_max']:.4f}),"
            f" NMI {s['nmi_mean']:.4f} ± {s['nmi_std']:.4f}"
        )
        if s.get("chosen_acc_rank") is not None and len(results["runs"]) > 1:
            print(f"{'':<14}{'':>10}  the chosen run is #{s['chosen_acc_rank']} of {len(results['runs'])} "
                  f"runs by ACC (labels used for this report only)")
    if kmeans is not None:
        print(f"{'k-means++':<14}{'':>10}{_format(kmeans['acc'], '>9.4f')}{_format(kmeans['nmi'], '>8.4f')}")
    if results.get("kmeans_hidden"):
        hidden = results["kmeans_hidden"]
        print(f"{'k-means hid.':<14}{'':>10}{_format(hidden['acc'], '>9.4f')}{_format(hidden['nmi'], '>8.4f')}"
              f"  (on the hidden representation of run {hidden['ddc_seed']})")


def _set_precision(policy: str | None) -> None:
    if policy:
        import keras

        keras.mixed_precision.set_global_policy(f"mixed_{policy}")


def _parse_proportions(text: str) -> str | tuple[float, ...] | None:
    """``--proportions``: ``uniform``, ``free`` (None) or comma-separated numbers."""
    if text in ("uniform", "free"):
        return None if text == "free" else text
    try:
        return tuple(float(p) for p in text.replace(" ", "").split(","))
    except ValueError:
        raise ValueError(f"--proportions {text!r}: expected numbers such as 0.5,0.3,0.2, 'uniform' or 'free'") from None


def _resolve_data_and_clusters(args: argparse.Namespace) -> tuple[Any, int]:
    """Apply ``--preset`` to ``args`` (an explicit flag beats the preset, which beats the
    built-in default), load ``--data`` and settle the number of clusters k."""
    from ddc_tf import data, presets

    preset = presets.get_preset(args.preset) if args.preset else None
    for key, value in presets.resolve_fit_options(preset, vars(args)).items():
        setattr(args, key, value)
    if args.data is None:
        raise ValueError("give the data with --data SOURCE, or a --preset NAME")
    arrays = data.load_arrays(args.data, n_clusters=args.clusters)
    n_clusters = args.clusters or arrays.n_classes
    if n_clusters is None:
        raise ValueError(f"{args.data} has no labels; give the number of clusters with --clusters K")
    data.check_n_clusters(arrays, n_clusters)
    return arrays, n_clusters


def _cmd_fit(args: argparse.Namespace) -> int:
    from ddc_tf.protocol import RESULTS_FILE, run_protocol
    from ddc_tf.training import TrainConfig

    arrays, n_clusters = _resolve_data_and_clusters(args)
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
        method=args.method,
        epsilon=args.epsilon,
        proportions=_parse_proportions(args.proportions),
        strategy=args.strategy,
        clipnorm=args.clipnorm,
        lr_schedule=args.lr_schedule,
    )
    out = Path(args.out)
    callbacks_for = None
    if args.tensorboard or args.log_curves:
        import keras

        from ddc_tf.callbacks import TrainingCurves

        def callbacks_for(seed: int) -> list:
            callbacks = []
            if args.tensorboard:
                callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / "logs" / f"seed_{seed}")))
            if args.log_curves:
                callbacks.append(TrainingCurves(
                    arrays.x, arrays.y, every=args.log_curves, subset=args.curve_subset,
                    batch_size=config.batch_size, csv_path=out / "curves" / f"seed_{seed}.csv",
                    log_dir=out / "logs" / f"seed_{seed}" / "curves",
                ))
            return callbacks

    results, _ = run_protocol(
        arrays,
        config,
        runs=args.runs,
        seed=args.seed,
        out_dir=out,
        verbose=0 if args.quiet else "auto",
        callbacks_for=callbacks_for,
        baselines=[name for name, on in (("kmeans", args.kmeans), ("kmeans_hidden", args.kmeans_hidden)) if on],
        selector=args.selector,
        vote_runs=args.vote_runs,
    )
    print_results_table(results, results.get("kmeans"))
    print(f"\nresults: {out / RESULTS_FILE}\nbest model: {out / 'model.keras'}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ddc_tf.demo import run_demo

    run_demo(out_dir=args.out, steps=args.steps)
    return 0


def _cmd_ablation(args: argparse.Namespace) -> int:
    from ddc_tf.ablation import SUBSETS, parse_subset, run_ablation
    from ddc_tf.tables import table2_markdown, table2_rows
    from ddc_tf.training import TrainConfig

    runs_given = args.runs is not None or args.preset is not None
    arrays, n_clusters = _resolve_data_and_clusters(args)
    if not runs_given:  # one run per repeat unless asked (fit's default of 10 would be 70× that)
        args.runs = 1
    config = TrainConfig(
        n_clusters=n_clusters, backbone=args.backbone, steps=args.steps, batch_size=args.batch_size,
        learning_rate=args.lr, rel_sigma=args.rel_sigma, sigma_mode=args.sigma_mode,
    )
    subsets = [parse_subset(t) for t in args.terms] if args.terms else SUBSETS
    table = run_ablation(
        arrays, config, subsets=subsets, repeats=args.repeats, runs=args.runs,
        seed=args.seed, out_dir=args.out, verbose=0 if args.quiet else "auto",
    )
    print(table2_markdown(table2_rows([table])))
    print(f"ablation: {Path(args.out) / 'ablation.json'}")
    return 0


def _cmd_table(args: argparse.Namespace) -> int:
    from ddc_tf.tables import write_tables

    for name, path in write_tables(args.results, args.out).items():
        if name.endswith(".md"):
            print(path.read_text())
    print(f"tables written to {args.out}")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    from ddc_tf.presets import describe_presets

    print(describe_presets())
    return 0


def _add_protocol_commands(sub: Any) -> None:
    """``ablation``, ``table`` and ``presets``: the paper's Tables 1–2 and its configurations."""
    from ddc_tf.losses import SIGMA_MODES

    ablation = sub.add_parser(
        "ablation",
        help="the paper's Table 2: every subset of the loss terms, mean ± std and max over repeats",
        description="Train every non-empty subset of {l1, l2, l3}; each repeat reports its lowest-loss run.",
    )
    ablation.add_argument("--preset", default=None, help="a named configuration (see `ddc-tf presets`); explicit flags override it")
    ablation.add_argument("--data", default=None, help="a named data set or a path, as for `fit`")
    ablation.add_argument("--clusters", type=int, default=None, help="number of clusters k (default: the number of classes)")
    ablation.add_argument("--repeats", type=int, default=5, help="repeats per subset (paper: 5)")
    ablation.add_argument("--runs", type=int, default=None, help="runs per repeat; the lowest-loss one counts (paper: 20; default: the preset's, else 1)")
    ablation.add_argument("--terms", nargs="+", default=None, help="only these subsets, e.g. l1+l3 l3 (default: all seven)")
    ablation.add_argument("--steps", type=int, default=None, help="training mini-batches per run (default 3000)")
    ablation.add_argument("--batch-size", type=int, default=None, help="mini-batch size (default 100)")
    ablation.add_argument("--seed", type=int, default=0, help="first seed; repeat r uses seeds seed + r·runs …")
    ablation.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: the paper's)")
    ablation.add_argument("--backbone", choices=("auto", "conv", "mlp"), default=None, help="network (default auto)")
    ablation.add_argument("--sigma-mode", choices=SIGMA_MODES, default=None, help="bandwidth convention")
    ablation.add_argument("--rel-sigma", type=float, default=None, help="relative bandwidth (default 0.15)")
    ablation.add_argument("--out", default="outputs/ablation", help="output folder (ablation.json, one folder per subset and repeat)")
    ablation.add_argument("--quiet", action="store_true", help="no progress bars")
    ablation.set_defaults(func=_cmd_ablation)

    table = sub.add_parser(
        "table",
        help="render results JSON as the paper's Table 1 / Table 2 (Markdown and CSV)",
        description="Read results.json / ablation.json files (or folders holding them) and write table1/table2 .md and .csv.",
    )
    table.add_argument("--results", nargs="+", required=True, metavar="FILE_OR_DIR", help="results files or folders (searched recursively)")
    table.add_argument("--out", required=True, help="folder for table1.md, table1.csv, table2.md, table2.csv")
    table.set_defaults(func=_cmd_table)

    presets = sub.add_parser("presets", help="list the named configurations and where they depart from the paper")
    presets.set_defaults(func=_cmd_presets)


def build_parser() -> argparse.ArgumentParser:
    from ddc_tf import __version__
    from ddc_tf.losses import DEFAULT_REL_SIGMA, DEFAULT_SIGMA_MODE, SIGMA_MODES
    from ddc_tf.selection import DEFAULT_SELECTOR, SELECTORS
    from ddc_tf.training import LR_SCHEDULES

    parser = argparse.ArgumentParser(
        prog="ddc-tf", description="Deep Divergence-based Clustering (Kampffmeyer et al. 2019) in Keras."
    )
    parser.add_argument("--version", action="version", version=f"ddc_tf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser(
        "fit",
        help="train DDC (R runs, a run chosen without labels, DDC-VOTE) and write results.json",
        description="Train R DDC runs on a data set; report the run the selector picks and DDC-VOTE.",
    )
    fit.add_argument("--preset", default=None, help="a named configuration in the paper's terms (see `ddc-tf presets`); explicit flags override it")
    fit.add_argument("--data", default=None, help="a named data set (digits, circles, fashion_mnist, ...) or a path (.npz, IDX folder, image folder)")
    fit.add_argument("--clusters", type=int, default=None, help="number of clusters k (default: the number of classes)")
    fit.add_argument("--steps", type=int, default=None, help="training mini-batches per run (paper: 70000; default 3000)")
    fit.add_argument("--batch-size", type=int, default=None, help="mini-batch size (paper and default: 100)")
    fit.add_argument("--runs", type=int, default=None, help="independent runs R; ≥ 3 adds DDC-VOTE (paper: 20; default 10: the selector and the vote need several runs)")
    fit.add_argument("--seed", type=int, default=0, help="seed of the first run (run r uses seed + r)")
    fit.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 1e-3; the paper uses 1e-5 for the MLP over 70000 steps)")
    fit.add_argument("--backbone", choices=("auto", "conv", "mlp"), default=None, help="network (default auto: conv for images ≥ 16×16, else mlp)")
    fit.add_argument("--sigma-mode", choices=SIGMA_MODES, default=None, help=f"bandwidth convention (default {DEFAULT_SIGMA_MODE}; see README)")
    fit.add_argument("--rel-sigma", type=float, default=None, help=f"relative bandwidth (paper and default: {DEFAULT_REL_SIGMA})")
    fit.add_argument("--weights", type=float, nargs=3, default=(1.0, 1.0, 1.0), metavar=("W1", "W2", "W3"), help="weights of l1 l2 l3 (0 switches a term off)")
    fit.add_argument("--selector", choices=SELECTORS, default=DEFAULT_SELECTOR, help=f"how the reported run is picked, without labels: loss (lowest total loss, the paper), l1, or consensus (most agreement with the other runs); default {DEFAULT_SELECTOR}")
    fit.add_argument("--vote-runs", type=vote_count, default=None, help="DDC-VOTE over the best this many runs of the selector's ranking (paper: 3; default: the better half of the runs, at least 3)")
    fit.add_argument("--clipnorm", type=float, default=None, help="clip the gradient's global norm at this value (default: no clipping)")
    fit.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant", help="constant (default) or cosine (decay to 0 over --steps)")
    fit.add_argument("--method", choices=("ddc", "ot", "dcan"), default="ddc", help="clustering loss: ddc (default), ot (optimal transport with cluster-size constraints), dcan (adversarial)")
    fit.add_argument("--epsilon", type=float, default=None, help="--method ot: entropic regularisation ε, in units of the embedding's variance (default 0.01)")
    fit.add_argument("--proportions", default="uniform", metavar="P1,P2,...|uniform|free", help="--method ot/dcan: target cluster proportions (e.g. 0.5,0.3,0.2; normalised), uniform (default) or free (ot: no size constraint)")
    fit.add_argument("--mixed-precision", choices=("bfloat16", "float16"), default=None, help="run the network in mixed precision (loss stays float32)")
    fit.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    fit.add_argument("--strategy", choices=("none", "mirrored", "multiworker"), default="none", help="tf.distribute strategy: none (default), mirrored (all local devices), multiworker (hosts from TF_CONFIG); --batch-size is the global batch, the DDC kernel is formed on it (docs/distributed.md)")
    fit.add_argument("--kmeans", action="store_true", help="also report k-means++ (best of 20) on the raw inputs")
    fit.add_argument("--kmeans-hidden", action="store_true", help="also report k-means++ (best of 20) on the chosen run's hidden representation")
    fit.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs to OUT/logs/seed_S")
    fit.add_argument("--log-curves", type=int, nargs="?", const=100, default=None, metavar="N",
                     help="every N steps (default 100) log the loss, its terms and ACC/NMI on a fixed subset to OUT/curves/seed_S.csv and TensorBoard (paper Fig. 9a)")
    fit.add_argument("--curve-subset", type=int, default=2000, help="points evaluated by --log-curves (default 2000)")
    fit.add_argument("--out", default="outputs/fit", help="output folder (results.json, model.keras, runs/)")
    fit.add_argument("--quiet", action="store_true", help="no progress bars")
    fit.set_defaults(func=_cmd_fit)

    _add_protocol_commands(sub)

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
