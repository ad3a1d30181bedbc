"""DDC-DISTILLED: does fine-tuning the chosen run on DDC-ENSEMBLE give one exportable network
as good as the ensemble? Measured over several independent protocols per data set.

    python benchmarks/distill.py --data digits --protocols 5 --runs 10 --steps 3000
    python benchmarks/distill.py --data 20news --protocols 6 --runs 10 --steps 3000 --stride 2
    python benchmarks/distill.py --data 20news --imbalance 1 0.5 0.25 0.12 --loss-weights 1 0 1 ...

Protocol p trains seeds ``p·stride … p·stride + runs - 1`` with the defaults of ``ddc-tf fit``
(consensus selector, VOTE over the better half, ENSEMBLE of all runs) and then distils the
chosen run on the ensemble's cluster ids for each ``--distill-steps`` value; with
``--refine-runs M``, M refined runs per protocol start from its DDC-ENSEMBLE, train
``--refine-run-steps`` (default: ``run_protocol``'s) and are ranked with the others (kept under
``refined/from_seeds_<first>-<last>_start<N>_steps<S>/``, so overlapping protocols do not share
them). With ``--stride`` equal to ``--runs`` (the default) the protocols share no run; a
smaller stride reuses runs between protocols (cheaper, not independent: the results file says
which). ``--imbalance`` keeps a seeded random share of each class (``common.imbalance``),
``--loss-weights`` sets DDC's ``l1, l2, l3`` weights, ``--proportions`` the clusters' target
shares for DDC's size-aware ``l2`` (``TrainConfig.proportions``; sizes are normalised),
``--balance-weight W`` the weight of the balance term beside the neighbour term
(``TrainConfig.balance_weight``), and
``--runs-at-once R`` trains R runs in one program as ``ddc-tf fit`` does (for the MLP with its
thread pools). Runs are kept under ``outputs/distill/<data><settings>/`` (shared by all
protocols), the table goes to ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import BACKBONES, RESULTS_DIR, imbalance, subsample, write_results
from ddc_tf import data as ddc_data
from ddc_tf.baselines import kmeans_baseline
from ddc_tf.experiments.grouped import ops_side_by_side
from ddc_tf.experiments.protocol import run_protocol
from ddc_tf.experiments.training import TrainConfig

ROWS = ("best", "vote", "ensemble", "distilled")


def mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "min": float(np.min(values)),
            "max": float(np.max(values))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["digits"])
    parser.add_argument("--protocols", type=int, default=5)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--stride", type=int, default=None, help="seed offset between protocols (default: --runs)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--distill-steps", type=int, nargs="+", default=[300])
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--neighbors", type=int, default=0, help="TrainConfig.neighbors (0: the paper's loss)")
    parser.add_argument("--neighbor-weight", type=float, default=1.0)
    parser.add_argument("--balance-weight", type=float, default=0.0, help="TrainConfig.balance_weight (0: off)")
    parser.add_argument("--kmeans-init", type=int, default=0, help="TrainConfig.kmeans_init (0: random start)")
    parser.add_argument("--refine-runs", type=int, default=0,
                        help="run_protocol's refine_runs: runs more per protocol that start from its DDC-ENSEMBLE")
    parser.add_argument("--refine-run-steps", type=int, default=None,
                        help="run_protocol's refine_run_steps (default: options.REFINED_RUN_STEPS, at most --steps)")
    parser.add_argument("--imbalance", type=float, nargs="+", default=None, metavar="FRACTION",
                        help="keep this share of each class (one fraction per class)")
    parser.add_argument("--loss-weights", type=float, nargs=3, default=None, metavar=("W1", "W2", "W3"),
                        help="TrainConfig.loss_weights (default: 1 1 1)")
    parser.add_argument("--proportions", type=float, nargs="+", default=None, metavar="SHARE",
                        help="TrainConfig.proportions: one share (or size) per cluster (default: uniform)")
    parser.add_argument("--runs-at-once", type=int, default=1, help="run_protocol's runs_at_once (ddc-tf fit: 4)")
    parser.add_argument("--name", default=None)
    parser.add_argument("--out", default="outputs/distill")
    args = parser.parse_args()
    if args.runs_at_once > 1 and all(BACKBONES.get(name) == "mlp" for name in args.data):
        ops_side_by_side()  # as ddc-tf fit does for MLP groups (before the runtime starts)
    stride = args.stride or args.runs
    command = "python benchmarks/distill.py " + " ".join(sys.argv[1:])
    payload = {"command": command, "protocols": args.protocols, "runs": args.runs, "stride": stride,
               "independent": stride >= args.runs, "steps": args.steps, "neighbors": args.neighbors,
               "neighbor_weight": args.neighbor_weight, "balance_weight": args.balance_weight, "kmeans_init": args.kmeans_init,
               "refine_runs": args.refine_runs, "refine_run_steps": args.refine_run_steps,
               "imbalance": args.imbalance, "loss_weights": args.loss_weights, "proportions": args.proportions,
               "runs_at_once": args.runs_at_once,
               "data": {}}
    for name in args.data:
        data = subsample(ddc_data.load_arrays(name), args.subset)
        class_sizes = None
        if args.imbalance:
            data, class_sizes = imbalance(data, args.imbalance)
        k = data.n_classes
        x = data.x if data.is_sparse else data.x.reshape(data.n, -1)
        km = kmeans_baseline(x, data.y, k, seed=0)
        config = TrainConfig(n_clusters=k, steps=args.steps, neighbors=args.neighbors,
                             neighbor_weight=args.neighbor_weight, balance_weight=args.balance_weight,
                             kmeans_init=args.kmeans_init,
                             **({"loss_weights": tuple(args.loss_weights)} if args.loss_weights else {}),
                             **({"proportions": tuple(args.proportions)} if args.proportions else {}))
        per_protocol = []
        suffix = f"-nbr{args.neighbors}-w{args.neighbor_weight:g}" if args.neighbors else ""
        suffix += f"-bal{args.balance_weight:g}" if args.neighbors and args.balance_weight else ""
        suffix += f"-km{args.kmeans_init}" if args.kmeans_init else ""
        for tag, values in (("imb", args.imbalance), ("lw", args.loss_weights), ("prop", args.proportions)):
            suffix += f"-{tag}" + "-".join(f"{v:g}" for v in values) if values else ""
        suffix += f"-at{args.runs_at_once}" if args.runs_at_once > 1 else ""
        for p in range(args.protocols):
            row = {"seeds": [p * stride, p * stride + args.runs - 1], "distilled": {}}
            for steps in args.distill_steps:
                start = time.perf_counter()
                results, _ = run_protocol(data, config, runs=args.runs, seed=p * stride, verbose=0,
                                          out_dir=f"{args.out}/{name}{suffix}", distill_steps=steps,
                                          refine_runs=args.refine_runs, refine_run_steps=args.refine_run_steps,
                                          runs_at_once=args.runs_at_once)
                row.update({key: {m: results[key][m] for m in ("acc", "nmi")} for key in ("best", "vote", "ensemble")})
                row["best"]["refined"] = results["best"]["refined"]
                independent = [r for r in results["runs"] if not r["refined"]]
                row["runs_acc_mean"] = float(np.mean([r["acc"] for r in independent]))
                row["runs_nmi_mean"] = float(np.mean([r["nmi"] for r in independent]))
                if args.refine_runs:
                    refined = [r for r in results["runs"] if r["refined"]]
                    row["refined_acc_mean"] = float(np.mean([r["acc"] for r in refined]))
                    row["refined_nmi_mean"] = float(np.mean([r["nmi"] for r in refined]))
                row["distilled"][str(steps)] = {m: results["distilled"][m] for m in ("acc", "nmi", "agreement", "seconds")}
                print(f"{name} protocol {p} (seeds {row['seeds']}), distill {steps}: pick {row['best']['acc']:.3f}/{row['best']['nmi']:.3f} "
                      f"vote {row['vote']['acc']:.3f}/{row['vote']['nmi']:.3f} ensemble {row['ensemble']['acc']:.3f}/{row['ensemble']['nmi']:.3f} "
                      f"distilled {results['distilled']['acc']:.3f}/{results['distilled']['nmi']:.3f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
            per_protocol.append(row)
        summary = {key: {m: mean_std([r[key][m] for r in per_protocol]) for m in ("acc", "nmi")}
                   for key in ("best", "vote", "ensemble")}
        for steps in args.distill_steps:
            summary[f"distilled_{steps}"] = {m: mean_std([r["distilled"][str(steps)][m] for r in per_protocol])
                                             for m in ("acc", "nmi")}
        summary["runs_acc_mean"] = mean_std([r["runs_acc_mean"] for r in per_protocol])
        summary["runs_nmi_mean"] = mean_std([r["runs_nmi_mean"] for r in per_protocol])
        if args.refine_runs:
            summary["refined_acc_mean"] = mean_std([r["refined_acc_mean"] for r in per_protocol])
            summary["refined_nmi_mean"] = mean_std([r["refined_nmi_mean"] for r in per_protocol])
        payload["data"][name] = {"n": data.n, "k": k, "class_sizes": class_sizes, "kmeans": {"acc": km["acc"], "nmi": km["nmi"]},
                                 "protocols": per_protocol, "summary": summary}
        for key, value in summary.items():
            if not key.startswith(("runs_", "refined_")):
                print(f"  {key:14s} ACC {value['acc']['mean']:.3f} ± {value['acc']['std']:.3f} "
                      f"NMI {value['nmi']['mean']:.3f} ± {value['nmi']['std']:.3f}")
        print(f"  k-means++      ACC {km['acc']:.3f} NMI {km['nmi']:.3f}", flush=True)
        write_results(args.name or f"distill_{'_'.join(args.data)}", payload)


if __name__ == "__main__":
    main()
