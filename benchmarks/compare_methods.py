"""DDC vs optimal-transport clustering vs DCAN vs k-means++, each method as ``ddc-tf fit --method M``
runs it by default, at an equal budget of runs × steps.

Every deep method trains through the same protocol (``ddc_tf.experiments.protocol.run_protocol``)
with the CLI's defaults for its method and the data's backbone — learning rate, batch size,
neighbour pairs (``ddc_tf.options.default_neighbors``, at the method's default weight), the
DDC-pretrained backbone of the siblings (``ddc_tf.options.default_pretrain_steps``), the
consensus selector, DDC-VOTE, DDC-ENSEMBLE and the distilled saved model
(``DEFAULT_DISTILL_STEPS``) — only the number of runs and steps is the budget's. k-means++ (best
of 20 restarts) runs on the raw inputs. Per method: the runs' ACC / NMI mean ± std, the
consensus pick, the vote, the ensemble, the saved (distilled) model and the time per step.

    python benchmarks/compare_methods.py --data digits fashion_mnist 20news --subset 10000 --seeds 5 --steps 2000
    python benchmarks/compare_methods.py --markdown            # the README table from the results file

Runs go to ``benchmarks/outputs/compare/<name>/<data>/<method>`` (an interrupted or repeated
command reuses finished runs); results to ``benchmarks/results/<name>.json``, rewritten after
every method.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from common import RESULTS_DIR, subsample, write_results
from ddc_tf import baselines
from ddc_tf import data as ddc_data
from ddc_tf.experiments.protocol import run_protocol
from ddc_tf.experiments.training import TrainConfig, resolve_backbone
from ddc_tf.options import DEFAULT_DISTILL_STEPS, default_neighbors, default_pretrain_steps

METHODS = ("ddc", "ot", "dcan")
OUT = Path(__file__).resolve().parent / "outputs" / "compare"


def default_config(arrays, method: str, steps: int) -> TrainConfig:
    """The ``TrainConfig`` ``ddc-tf fit --data <arrays> --method <method> --steps <steps>`` builds."""
    backbone = resolve_backbone("auto", arrays)
    return TrainConfig(
        n_clusters=arrays.n_classes, steps=steps, method=method,
        neighbors=default_neighbors(method, backbone, arrays.n),
        pretrain_steps=default_pretrain_steps(method),
    )


def run_method(arrays, method: str, steps: int, seeds: int, out_dir: Path, runs_at_once: int = 1) -> dict:
    config = default_config(arrays, method, steps)
    start = time.perf_counter()
    results, _ = run_protocol(arrays, config, runs=seeds, out_dir=out_dir, verbose=0,
                              distill_steps=DEFAULT_DISTILL_STEPS, runs_at_once=runs_at_once)
    seconds = time.perf_counter() - start
    accs = np.array([r["acc"] for r in results["runs"]])
    nmis = np.array([r["nmi"] for r in results["runs"]])
    pick = lambda key: None if results.get(key) is None else {k: results[key][k] for k in ("acc", "nmi")}  # noqa: E731
    return {
        "method": method,
        "config": config.to_dict(),
        "acc_mean": float(accs.mean()), "acc_std": float(accs.std()),
        "nmi_mean": float(nmis.mean()), "nmi_std": float(nmis.std()),
        "pick": pick("best"), "vote": pick("vote"), "ensemble": pick("ensemble"), "distilled": pick("distilled"),
        "runs": [{k: r[k] for k in ("seed", "acc", "nmi")} for r in results["runs"]],
        "seconds": round(seconds, 1),
    }


def markdown(name: str) -> str:
    """The README table: one row per data set and method."""
    rows = json.loads((RESULTS_DIR / f"{name}.json").read_text())["rows"]
    fmt = lambda r: "–" if r is None else f"{r['acc']:.3f} / {r['nmi']:.3f}"  # noqa: E731
    lines = ["| data | method | runs ACC (NMI), mean ± std | consensus pick | DDC-VOTE | ensemble | **saved model** |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        if row["method"] == "kmeans":
            lines.append(f"| {row['data']} | k-means++ (best of 20) | | | | | **{row['acc']:.3f} / {row['nmi']:.3f}** |")
            continue
        config = row["config"]
        extras = [f"{config['neighbors']} neighbours × {config['neighbor_weight']:g}" if config.get("neighbors") else "",
                  f"DDC-pretrained {config['pretrain_steps']}" if config.get("pretrain_steps") else ""]
        label = row["method"].upper() + (f" ({', '.join(e for e in extras if e)})" if any(extras) else "")
        lines.append(
            f"| {row['data']} | {label} | {row['acc_mean']:.3f} ± {row['acc_std']:.3f} ({row['nmi_mean']:.3f} ± "
            f"{row['nmi_std']:.3f}) | {fmt(row['pick'])} | {fmt(row['vote'])} | {fmt(row['ensemble'])} | "
            f"**{fmt(row['distilled'])}** |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["digits", "fashion_mnist", "20news"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", type=int, default=5, help="runs per method (seeds 0..R-1)")
    parser.add_argument("--steps", type=int, default=2000, help="training steps per run, every method")
    parser.add_argument("--subset", type=int, default=None, help="random subset size per data set")
    parser.add_argument("--runs-at-once", type=int, default=1, help="train this many runs together (same results)")
    parser.add_argument("--name", default="compare_methods")
    parser.add_argument("--markdown", action="store_true", help="print the README table of --name and stop")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(args.name))
        return
    command = "python benchmarks/compare_methods.py " + " ".join(sys.argv[1:])
    rows: list[dict] = []
    for source in args.data:
        arrays = subsample(ddc_data.load_arrays(source), args.subset)
        x = arrays.x.reshape(arrays.n, -1) if not arrays.is_sparse else arrays.x
        km = baselines.kmeans_baseline(x, arrays.y, arrays.n_classes, seed=0)
        rows.append({"data": arrays.name, "n": arrays.n, "method": "kmeans", "acc": km["acc"], "nmi": km["nmi"]})
        print(f"{arrays.name:<22}{'kmeans':<6} ACC {km['acc']:.3f} NMI {km['nmi']:.3f}", flush=True)
        for method in args.methods:
            row = {"data": arrays.name, "n": arrays.n, "steps": args.steps,
                   **run_method(arrays, method, args.steps, args.seeds, OUT / args.name / arrays.name / method,
                                args.runs_at_once)}
            rows.append(row)
            print(f"{arrays.name:<22}{method:<6} runs {row['acc_mean']:.3f} ± {row['acc_std']:.3f} "
                  f"(NMI {row['nmi_mean']:.3f}) pick {row['pick']['acc']:.3f} saved model "
                  f"{row['distilled']['acc'] if row['distilled'] else float('nan'):.3f} / "
                  f"{row['distilled']['nmi'] if row['distilled'] else float('nan'):.3f} ({row['seconds']:.0f} s)",
                  flush=True)
            write_results(args.name, {"command": command, "steps": args.steps, "seeds": args.seeds, "rows": rows})


if __name__ == "__main__":
    main()
