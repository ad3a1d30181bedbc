"""The embedded, offline demo: DDC against k-means on digits and on circles.

``ddc-tf demo`` (or ``python -m ddc_tf.experiments.demo``) needs no download: scikit-learn's 8×8
handwritten digits (1 797 real images, 10 classes) ship with scikit-learn, and the circles
(a small circle inside a ring, the paper's Fig. 3) are generated. For each it trains the
protocol's runs, prints ACC/NMI of the run the selector picks, of DDC-VOTE, of DDC-ENSEMBLE,
of DDC-DISTILLED (the chosen run fine-tuned on the ensemble: the saved model) and of
k-means++, and saves that model and ``results.json`` under the output folder.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ddc_tf.checks import is_positive_int
from ddc_tf.options import DEFAULT_DISTILL_STEPS, REFINE_START_STEPS, default_neighbors, default_refine_runs, default_runs_at_once

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class DemoCase:
    """One demo data set and the budget it trains with."""

    source: str
    n_clusters: int
    steps: int
    runs: int
    learning_rate: float


#: Budgets sized for a 2-core CPU (1.5–5 minutes in all, by CPU: README). The MLP learning rate is
#: 1e-3 rather than the paper's 1e-5: at a budget of a few thousand steps 1e-5 barely moves
#: the weights (see README, "Defaults and where they depart from the paper"). Digits trains
#: 10 runs: single runs land in different local minima (ACC 0.63–0.91), and the consensus
#: selector and DDC-ENSEMBLE need several runs to find what most of them agree on. Like
#: ``ddc-tf fit`` with the MLP, each point is paired with one of its nearest neighbours
#: (``default_neighbors``: 5).
DEMO_CASES: tuple[DemoCase, ...] = (
    DemoCase("digits", n_clusters=10, steps=1500, runs=10, learning_rate=1e-3),
    DemoCase("circles", n_clusters=2, steps=1500, runs=3, learning_rate=1e-3),
)


def _acc_nmi(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """``{acc, nmi}`` of a protocol result entry (``best``, ``vote``, ...), or None without one."""
    return {k: entry[k] for k in ("acc", "nmi")} if entry else None


def run_demo(out_dir: str | os.PathLike = "outputs/demo", steps: int | None = None) -> dict[str, Any]:
    """Train and evaluate every demo case; print a table; return and save a summary.

    Args:
        out_dir: output folder (one sub-folder per data set, plus ``summary.json``).
        steps: override every case's step budget (for quick checks): every run trains this many
            steps, and the refined runs (``REFINED_RUN_STEPS`` by default), the distillation and
            the refined runs' start at most as many.

    Returns:
        ``{source: {"ddc": {acc, nmi}, "ddc_vote": {acc, nmi}, "ddc_ensemble": {acc, nmi},
        "ddc_distilled": {acc, nmi} (the saved model), "kmeans": {acc, nmi},
        "seconds": float, "seconds_per_step": float}}``.
    """
    if steps is not None and not is_positive_int(steps):
        raise ValueError(f"steps={steps!r}: need a whole number ≥ 1, or None for each case's own budget")
    from ddc_tf import baselines, data
    from ddc_tf.experiments.tables import format_results_table
    from ddc_tf.experiments.protocol import run_protocol
    from ddc_tf.experiments.training import TrainConfig

    out = Path(out_dir)
    summary: dict[str, Any] = {}
    for case in DEMO_CASES:
        arrays = data.load_arrays(case.source)
        config = TrainConfig(
            n_clusters=case.n_clusters,
            backbone="mlp",
            steps=case.steps if steps is None else steps,
            learning_rate=case.learning_rate,
            neighbors=default_neighbors("ddc", "mlp", arrays.n),  # as ddc-tf fit does with the MLP
        )
        print(f"\n=== {case.source}: {case.runs} runs × {config.steps} steps ===", flush=True)
        start = time.perf_counter()
        results, _ = run_protocol(arrays, config, runs=case.runs, out_dir=out / case.source, verbose=0,
                                  progress=True, distill_steps=min(DEFAULT_DISTILL_STEPS, config.steps),
                                  refine_steps=min(REFINE_START_STEPS, config.steps),
                                  runs_at_once=default_runs_at_once(case.runs),
                                  refine_runs=default_refine_runs(config.method, case.runs))
        seconds = time.perf_counter() - start
        kmeans = baselines.kmeans_baseline(arrays.x, arrays.y, case.n_clusters)
        kmeans = {"acc": kmeans["acc"], "nmi": kmeans["nmi"]}
        print(format_results_table(results, kmeans))
        summary[case.source] = {
            "ddc": _acc_nmi(results["best"]),
            "ddc_vote": _acc_nmi(results["vote"]),
            "ddc_ensemble": _acc_nmi(results["ensemble"]),
            "ddc_distilled": _acc_nmi(results["distilled"]),
            "kmeans": kmeans,
            "seconds": round(seconds, 1),
            "seconds_per_step": round(seconds / (len(results["runs"]) * config.steps), 5),
            "model": str(out / case.source / "model.keras"),
        }

    print("\nSummary (ACC / NMI)")
    print(f"{'data':<10}{'DDC':>16}{'DDC-VOTE':>16}{'DDC-ENSEMBLE':>16}{'DDC-DISTILLED':>16}{'k-means++':>16}")
    for source, row in summary.items():
        cells = [row["ddc"], row["ddc_vote"], row["ddc_ensemble"], row["ddc_distilled"], row["kmeans"]]
        text = "".join(f"{c['acc']:>9.3f} / {c['nmi']:.3f}" if c else f"{'—':>16}" for c in cells)
        print(f"{source:<10}{text}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nmodels and results under {out}/")
    return summary


if __name__ == "__main__":
    run_demo()
