"""``ddc-tf fit``: train R runs, pick one without labels, DDC-VOTE and DDC-ENSEMBLE.

    ddc-tf fit --data SOURCE [--clusters K] [--steps N] [--runs R] [--out DIR] ...
    ddc-tf fit --preset NAME [any flag overrides the preset]
"""

from __future__ import annotations

import argparse
import math
import warnings
from typing import Any

from ddc_tf.cli.common import (
    add_training_arguments,
    apply_preset,
    check_data_path,
    out_path,
    writable_out,
    keras_verbosity,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    resolve_data_and_clusters,
    vote_count,
)

__all__ = ["register", "run"]


def precision(args: argparse.Namespace, backbone: str) -> str:
    """``--mixed-precision``, with ``auto`` resolved for this run: bf16 for DDC's CNN on a machine
    with bf16 arithmetic, else float32 (``ddc_tf.options.bf16_default_applies``,
    ``ddc_tf.hardware.bf16_arithmetic``)."""
    if args.mixed_precision != "auto":
        return args.mixed_precision
    from ddc_tf.options import bf16_default_applies

    if not bf16_default_applies(args.method, backbone, strategy=args.strategy, jit=args.jit):
        return "float32"
    from ddc_tf.hardware import bf16_arithmetic

    return "bfloat16" if bf16_arithmetic() else "float32"


def _set_precision(policy: str) -> None:
    """The global Keras dtype policy for ``policy`` (``float32``, ``bfloat16``, ``float16``)."""
    import keras

    keras.mixed_precision.set_global_policy("float32" if policy == "float32" else f"mixed_{policy}")


def _parse_proportions(text: str) -> str | tuple[float, ...] | None:
    """``--proportions``: ``uniform``, ``free`` (None) or comma-separated numbers."""
    if text in ("uniform", "free"):
        return None if text == "free" else text
    try:
        return tuple(float(p) for p in text.replace(" ", "").split(","))
    except ValueError:
        raise ValueError(f"--proportions {text!r}: expected numbers such as 0.5,0.3,0.2, 'uniform' or 'free'") from None


def run(args: argparse.Namespace) -> int:
    """``ddc-tf fit``: the protocol on ``--data``; prints the results table."""
    from ddc_tf.experiments.grouped import ops_side_by_side, pools_side_by_side_pay
    from ddc_tf.experiments.protocol import run_protocol
    from ddc_tf.experiments.tables import format_results_table
    from ddc_tf.experiments.training import TrainConfig, resolve_backbone
    from ddc_tf.options import DEFAULT_CURVE_SUBSET, REFINE_START_STEPS
    from ddc_tf.run_files import MODEL_FILE, RESULTS_FILE

    arrays, n_clusters = resolve_data_and_clusters(args)  # also fills in a preset's settings (--runs, …)
    check_flags_apply(args)
    unscored = [flag for flag, on in (("--kmeans", args.kmeans), ("--kmeans-hidden", args.kmeans_hidden)) if on]
    if arrays.y is None and unscored:
        raise ValueError(f"{' and '.join(unscored)} score k-means++ against the labels, and {args.data} has none; "
                         f"drop {'them' if len(unscored) > 1 else 'it'}")
    if args.log_curves and args.curve_subset is not None and args.curve_subset > arrays.n:
        warnings.warn(f"--curve-subset {args.curve_subset} is more than the {arrays.n} points of {args.data}; "
                      "the curves evaluate all of them", stacklevel=1)
    per_run_callbacks = bool(args.tensorboard or args.log_curves)
    at_once = runs_at_once(args, per_run_callbacks)
    backbone = resolve_backbone(args.backbone, arrays)
    if pools_side_by_side_pay(at_once, backbone):
        ops_side_by_side()  # before TensorFlow's runtime starts (loading arrays does not start it)
    k_neighbors = neighbors(args, backbone, arrays.n)
    _set_precision(precision(args, backbone))
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
        drop_remainder=not args.keep_partial_batches,
        pretrain_steps=pretrain_steps(args),
        neighbors=k_neighbors,
        neighbor_weight=args.neighbor_weight,
        balance_weight=args.balance_weight,
        kmeans_init=args.kmeans_init,
    )
    out = writable_out(out_path(args, method=args.method))
    callbacks_for = None
    if per_run_callbacks:
        import keras

        from ddc_tf.callbacks import TrainingCurves

        def callbacks_for(seed: int) -> list:
            callbacks = []
            if args.tensorboard:
                callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / "logs" / f"seed_{seed}")))
            if args.log_curves:
                callbacks.append(TrainingCurves(
                    arrays.x, arrays.y, every=args.log_curves,
                    subset=DEFAULT_CURVE_SUBSET if args.curve_subset is None else args.curve_subset,
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
        verbose=keras_verbosity(args),
        callbacks_for=callbacks_for,
        baselines=[name for name, on in (("kmeans", args.kmeans), ("kmeans_hidden", args.kmeans_hidden)) if on],
        selector=args.selector,
        vote_runs=args.vote_runs,
        distill_steps=distill_steps(args),
        runs_at_once=at_once,
        refine_runs=refine_runs(args),
        refine_steps=REFINE_START_STEPS if args.refine_steps is None else args.refine_steps,
        refine_run_steps=args.refine_run_steps,
    )
    print(format_results_table(results, results.get("kmeans")))
    print(f"\nresults: {out / RESULTS_FILE}\nbest model: {out / MODEL_FILE}")
    return 0


def precheck(args: argparse.Namespace) -> None:
    """What ``ddc-tf`` checks before TensorFlow loads: the preset filled in, then
    :func:`check_flags_apply`."""
    apply_preset(args)
    check_flags_apply(args)
    if args.data is not None:  # no --data (nor preset) is refused as such when the data are resolved
        check_data_path(args.data)  # a missing file is refused now, not after TensorFlow has loaded
        out_path(args, method=args.method)  # an --out inside an image folder is refused now, not after loading


def check_flags_apply(args: argparse.Namespace) -> None:
    """A ValueError for a flag given explicitly that would have no effect with the others
    (rather than dropping it without a word); ``args`` after the preset is applied."""
    from ddc_tf.options import MIN_VOTE_RUNS

    refined = refine_runs(args)
    if args.vote_runs is not None and args.vote_runs > args.runs + refined:
        raise ValueError(f"--vote-runs {args.vote_runs} votes over more runs than are trained (--runs {args.runs} and "
                         f"{refined} refined); give more runs or a smaller --vote-runs")
    if args.distill_steps and args.runs < MIN_VOTE_RUNS:
        raise ValueError(f"--distill-steps fine-tunes on DDC-ENSEMBLE, which needs ≥ {MIN_VOTE_RUNS} runs "
                         f"(--runs {args.runs}); give more runs or drop it")
    if refined == 0:
        for flag, value in (("--refine-steps", args.refine_steps), ("--refine-run-steps", args.refine_run_steps)):
            if value is not None:
                raise ValueError(f"{flag} sets the refined runs, which are off here (--refine-runs 0, fewer than "
                                 f"{MIN_VOTE_RUNS} runs, --method ot/dcan or --strategy); drop it")
    if args.balance_weight and args.method != "ddc":
        raise ValueError(f"--balance-weight weighs DDC's balance term (beside its neighbour term): --method ddc only; "
                         f"drop it (--method {args.method})")
    shares = _parse_proportions(args.proportions)  # well-formed and positive now; their count once k is known
    if isinstance(shares, tuple) and not all(p > 0 and math.isfinite(p) for p in shares):
        raise ValueError(f"--proportions {args.proportions!r}: every share must be a positive number")
    if isinstance(shares, tuple) and args.clusters is not None and len(shares) != args.clusters:
        raise ValueError(f"--proportions {args.proportions!r} gives {len(shares)} shares for --clusters "
                         f"{args.clusters}; give one share per cluster")
    if args.proportions == "free" and args.method != "ot":
        raise ValueError(f"--proportions free (no size constraint) is for --method ot; --method {args.method} "
                         "takes uniform or one share per cluster")
    if args.curve_subset is not None and not args.log_curves:
        raise ValueError("--curve-subset sets the points --log-curves evaluates; give --log-curves too, or drop it")
    if args.runs_at_once is not None and args.runs_at_once > args.runs:
        raise ValueError(f"--runs-at-once {args.runs_at_once} trains more runs together than there are "
                         f"(--runs {args.runs}); give at most {args.runs}")
    if args.refine_runs and args.runs < MIN_VOTE_RUNS:
        raise ValueError(f"--refine-runs start from DDC-ENSEMBLE, which needs ≥ {MIN_VOTE_RUNS} runs "
                         f"(--runs {args.runs}); give more runs or drop it")
    if args.selector == "ensemble" and args.runs < MIN_VOTE_RUNS:
        raise ValueError(f"--selector ensemble ranks runs by their agreement with DDC-ENSEMBLE, which needs "
                         f"≥ {MIN_VOTE_RUNS} runs (--runs {args.runs}); give more runs or another selector")
    if args.epsilon is not None and args.method != "ot":
        raise ValueError(f"--epsilon is OT's entropic regularisation: give --method ot too, or drop it "
                         f"(--method {args.method})")
    if args.kmeans_init and args.method != "ddc":
        raise ValueError(f"--kmeans-init starts DDC runs; --method {args.method} starts from DDC itself "
                         "(--pretrain-steps): drop it")
    if args.strategy != "none":
        for flag, value in (("--refine-runs", args.refine_runs), ("--distill-steps", args.distill_steps),
                            ("--kmeans-init", args.kmeans_init)):
            if value:
                raise ValueError(f"{flag} runs on one device, not under --strategy {args.strategy}: drop it")
    pretrain = pretrain_steps(args)  # refuses --pretrain-steps with ddc
    if args.method != "ddc" and not pretrain:
        from ddc_tf.options import DEFAULT_REL_SIGMA, DEFAULT_SIGMA_MODE

        for flag, value, default in (("--weights", tuple(args.weights), (1.0, 1.0, 1.0)),
                                     ("--rel-sigma", args.rel_sigma, DEFAULT_REL_SIGMA),
                                     ("--sigma-mode", args.sigma_mode, DEFAULT_SIGMA_MODE)):
            if value != default:
                raise ValueError(f"{flag} sets DDC's loss, which --method {args.method} trains only in its DDC "
                                 "pre-training, off here (--pretrain-steps 0): drop it")
    if not any(args.weights):
        raise ValueError("--weights 0 0 0 switches every term of DDC's loss off; keep at least one above 0")


def distill_steps(args: argparse.Namespace) -> int:
    """``--distill-steps``, or its default (distillation runs on one device: 0 under ``--strategy``)."""
    from ddc_tf.options import DEFAULT_DISTILL_STEPS

    if args.distill_steps is not None:
        return args.distill_steps
    return DEFAULT_DISTILL_STEPS if args.strategy == "none" else 0


def refine_runs(args: argparse.Namespace) -> int:
    """``--refine-runs``, or its default (``ddc_tf.options.default_refine_runs``)."""
    from ddc_tf.options import default_refine_runs

    if args.refine_runs is not None:
        return args.refine_runs
    return default_refine_runs(args.method, args.runs, args.strategy)


def runs_at_once(args: argparse.Namespace, per_run_callbacks: bool) -> int:
    """``--runs-at-once``, else its default (``ddc_tf.options.default_runs_at_once``)."""
    from ddc_tf.options import default_runs_at_once

    if args.runs_at_once is None:
        return default_runs_at_once(args.runs, args.strategy, per_run_callbacks)
    if args.runs_at_once > 1 and (per_run_callbacks or args.strategy != "none"):
        raise ValueError("--runs-at-once > 1 trains runs together on one device: not with --tensorboard, "
                         "--log-curves or --strategy")
    return args.runs_at_once


def pretrain_steps(args: argparse.Namespace) -> int | None:
    """``--pretrain-steps`` (0: from scratch), else the method's default
    (``ddc_tf.options.default_pretrain_steps``: DDC-pretrained for OT and DCAN)."""
    from ddc_tf.options import default_pretrain_steps

    if args.pretrain_steps is None:
        return default_pretrain_steps(args.method, args.steps)
    if args.pretrain_steps and args.method == "ddc":
        raise ValueError("--pretrain-steps applies to --method ot/dcan (their backbone starts from DDC's)")
    return args.pretrain_steps or None


def neighbors(args: argparse.Namespace, backbone: str, n: int) -> int:
    """``--neighbors`` (or the preset's), else its default for the resolved ``backbone`` and
    ``n`` points (``ddc_tf.options.default_neighbors``)."""
    from ddc_tf.options import default_neighbors

    k = args.neighbors
    if k is None:
        k = default_neighbors(args.method, backbone, n, args.strategy)
    if k == 0 and args.neighbor_weight is not None:
        raise ValueError("--neighbor-weight weighs the neighbour term, which is off here (--neighbors 0, the CNN "
                         "with ddc/dcan, --strategy or a -paper preset); drop it or give --neighbors K")
    if k == 0 and args.balance_weight:
        raise ValueError("--balance-weight weighs the balance term, which trains beside the neighbour term, off "
                         "here (--neighbors 0, the CNN, --strategy or a -paper preset); drop it or give --neighbors K")
    return k


def register(subparsers: Any) -> None:
    """Add ``fit`` to the ``ddc-tf`` sub-commands."""
    from ddc_tf.options import (
        DEFAULT_CURVE_SUBSET,
        DEFAULT_DISTILL_STEPS,
        DEFAULT_NEIGHBORS,
        DEFAULT_PRETRAIN_STEPS,
        DEFAULT_REFINE_RUNS,
        DEFAULT_RUNS_AT_ONCE,
        DEFAULT_SELECTOR,
        KMEANS_INIT_STEPS,
        LR_SCHEDULES,
        METHOD_NAMES,
        PRECISIONS,
        REFINE_START_STEPS,
        REFINED_RUN_STEPS,
        SELECTORS,
        SIBLING_NEIGHBORS,
        STRATEGIES,
    )

    fit = subparsers.add_parser(
        "fit",
        help="train DDC (R runs, a run chosen without labels, DDC-VOTE) and write results.json",
        description="Train R DDC runs on a data set; report the run the selector picks and DDC-VOTE.",
    )
    add_training_arguments(
        fit, out="outputs/<data>, e.g. outputs/digits; outputs/<data>-ot / -dcan for --method ot / dcan",
        runs_help="independent runs R; ≥ 3 adds DDC-VOTE (paper: 20; default 10: the selector and the vote need several runs)",
    )
    fit.add_argument("--weights", type=non_negative_float, nargs=3, default=(1.0, 1.0, 1.0), metavar=("W1", "W2", "W3"), help="weights of DDC's l1 l2 l3 (0 switches a term off); with --method ot/dcan, of their DDC pre-training (--pretrain-steps)")
    fit.add_argument("--selector", choices=SELECTORS, default=None, help=f"how the reported run is picked, without labels: loss (lowest total loss, the paper), l1, consensus (most agreement with the other runs) or ensemble (most agreement with DDC-ENSEMBLE, the consensus clustering of all runs); default {DEFAULT_SELECTOR}. loss and l1 rank refined runs (--refine-run-steps, shorter) by the same loss as the others: --refine-run-steps equal to --steps puts them on one footing")
    fit.add_argument("--vote-runs", type=vote_count, default=None, help="DDC-VOTE over the best this many runs of the selector's ranking (paper: 3; default: the better half of the runs, at least 3; with M refined runs, of the R others and at most 2M-1)")
    fit.add_argument("--distill-steps", type=non_negative_int, default=None, metavar="N",
                     help=f"fine-tune the chosen run N mini-batches on DDC-ENSEMBLE's clusters and save that network "
                          f"as model.keras (DDC-DISTILLED; needs the vote's ≥ 3 runs); 0: save the chosen run as trained "
                          f"(default: {DEFAULT_DISTILL_STEPS}; 0 under --strategy)")
    fit.add_argument("--refine-runs", type=non_negative_int, default=None, metavar="M",
                     help=f"after the R runs, train M more that start from DDC-ENSEMBLE (each fresh network fitted "
                          f"--refine-steps mini-batches to its clusters, then trained --refine-run-steps) and rank them "
                          f"with the others (README: 'Beating k-means', item 10); needs R ≥ 3 "
                          f"(default: {DEFAULT_REFINE_RUNS} for ddc with R ≥ 3 on one device, else 0)")
    fit.add_argument("--refine-steps", type=positive_int, default=None, metavar="N",
                     help=f"mini-batches that fit a refined run to DDC-ENSEMBLE (default {REFINE_START_STEPS})")
    fit.add_argument("--refine-run-steps", type=positive_int, default=None, metavar="N",
                     help=f"DDC mini-batches each refined run trains after that start "
                          f"(default {REFINED_RUN_STEPS}, or --steps when that is fewer; a number given is used as it is)")
    fit.add_argument("--neighbors", type=non_negative_int, default=None, metavar="K",
                     help=f"pair each training point with one of its K nearest neighbours in the input space (cosine for non-negative inputs, else Euclidean) and "
                          f"add a neighbour term to the loss — ddc: their consistency -log(a·a'); ot, dcan: their latent distance "
                          f"(README: 'Beating k-means', item 8; 'Sibling losses'); 0: the method's own loss (default: {DEFAULT_NEIGHBORS} for ddc, "
                          f"{SIBLING_NEIGHBORS} for ot and dcan, with the MLP backbone and for ot, on one device; 0 for ddc/dcan with the CNN, under --strategy and in the -paper presets)")
    fit.add_argument("--kmeans-init", type=non_negative_int, nargs="?", const=KMEANS_INIT_STEPS, default=0, metavar="N",
                     help=f"--method ddc: fit each run's fresh network N mini-batches (default when given without N: "
                          f"{KMEANS_INIT_STEPS}) to a k-means++ partition (one initialisation, the run's seed) before DDC "
                          f"trains it; lifted single runs on digits and 20news, but keeps DDC in k-means' convex clusters "
                          f"(README: 'Beating k-means', item 9); 0 (default): random start, as the paper")
    fit.add_argument("--neighbor-weight", type=non_negative_float, default=None, metavar="W",
                     help="weight of the neighbour term (default: 1 for ddc and ot, 0.1 for dcan)")
    fit.add_argument("--balance-weight", type=non_negative_float, default=None, metavar="W",
                     help="ddc with neighbours: weight of the balance term (log k minus the entropy of a batch's "
                          "mean assignment), which keeps the neighbour term from emptying clusters; helps when the "
                          "clusters are of similar size, costs when they are not (default: 0, off)")
    fit.add_argument("--runs-at-once", type=positive_int, default=None, metavar="R",
                     help=f"train R runs together in one program (each the run it would be alone, up to float "
                          f"rounding; faster per run, R times the memory); default {DEFAULT_RUNS_AT_ONCE} (at most "
                          f"--runs), 1 with --tensorboard, --log-curves or --strategy")
    fit.add_argument("--clipnorm", type=positive_float, default=None, help="clip the gradient's global norm at this value (default: no clipping)")
    fit.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant", help="constant (default) or cosine (decay to 0 over --steps)")
    fit.add_argument("--method", choices=METHOD_NAMES, default="ddc", help="clustering loss: ddc (default), ot (optimal transport with cluster-size constraints), dcan (adversarial)")
    fit.add_argument("--pretrain-steps", type=non_negative_int, default=None, metavar="N",
                     help=f"--method ot/dcan: start the backbone from a DDC run of N steps (same seed; 0: from scratch; "
                          f"default: {DEFAULT_PRETRAIN_STEPS}, at most --steps)")
    fit.add_argument("--epsilon", type=positive_float, default=None, help="--method ot: entropic regularisation ε, in units of the embedding's variance (default 0.01)")
    fit.add_argument("--proportions", default="uniform", metavar="P1,P2,...|uniform|free", help="target cluster proportions (e.g. 0.5,0.3,0.2; normalised), uniform (default) or free (ot only: no size constraint); ddc: the size-aware l2, smallest when the clusters have these shares")
    fit.add_argument("--mixed-precision", choices=PRECISIONS, default=None,
                     help="the network's compute dtype (the loss stays float32). auto (default; the -paper presets: "
                          "float32): bfloat16 for --method ddc with the CNN on a CPU with AMX bf16 arithmetic (no GPU, "
                          "no --jit, no --strategy), where it trained about twice as fast with the runs' ACC/NMI "
                          "level (README, Speed); float32 everywhere else. float32 keeps full precision")
    fit.add_argument("--jit", action="store_true", help="compile the train step with XLA")
    fit.add_argument("--strategy", choices=STRATEGIES, default="none", help="tf.distribute strategy: none (default), mirrored (all local devices), multiworker (hosts from TF_CONFIG); --batch-size is the global batch, the DDC kernel is formed on it (docs/distributed.md); ot/dcan compute their loss on each replica's share")
    fit.add_argument("--kmeans", action="store_true", help="also report k-means++ (best of 20) on the raw inputs")
    fit.add_argument("--kmeans-hidden", action="store_true", help="also report k-means++ (best of 20) on the chosen run's hidden representation")
    fit.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs to OUT/logs/seed_S")
    fit.add_argument("--log-curves", type=positive_int, nargs="?", const=100, default=None, metavar="N",
                     help="every N steps (default 100) log the loss, its terms and ACC/NMI on a fixed subset to OUT/curves/seed_S.csv and TensorBoard (paper Fig. 9a)")
    fit.add_argument("--curve-subset", type=positive_int, default=None, help=f"points evaluated by --log-curves (default {DEFAULT_CURVE_SUBSET})")
    fit.set_defaults(func=run, precheck=precheck)
