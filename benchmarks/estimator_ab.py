"""Shared by the A/B measurements of ``DDCClustering`` (``sklearn_runs_at_once.py``,
``sklearn_default_runs.py``): fit the estimator two ways per seed on real data, score
``labels_`` against the labels, and write the rows and their mean ± std after every seed."""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np

from common import write_results
from ddc_tf import data as ddc_data
from ddc_tf import evaluation
from ddc_tf.sklearn import DDCClustering


def fit_estimator(data, seed: int, **params: Any) -> tuple[dict, np.ndarray]:
    """``DDCClustering(n_clusters=k, random_state=seed, **params).fit(data.x)``: its wall time, the
    ACC/NMI of ``labels_`` and, with several runs, the chosen run and every run's loss (the
    estimator gets no labels, so its runs' own ACC is not known); and ``labels_``."""
    k = int(np.unique(data.y).size)
    began = time.perf_counter()
    est = DDCClustering(n_clusters=k, random_state=seed, **params).fit(data.x)
    record = {"seconds": round(time.perf_counter() - began, 1), **evaluation.cluster_metrics(data.y, est.labels_)}
    if est.results_ is not None:
        record.update(chosen_seed=est.results_["best"]["seed"], chosen_loss=est.loss_,
                      runs_loss=[r["loss"] for r in est.results_["runs"]])
    return record, est.labels_


def summarise(fits: list[dict]) -> dict:
    """Mean ± std over seeds of the fits' ACC, NMI and wall time."""
    out = {"fits": len(fits)}
    for key in ("acc", "nmi", "seconds"):
        values = np.array([f[key] for f in fits], dtype=float)
        out[key] = {"mean": float(values.mean()), "std": float(values.std())}
    return out


def compare_ways(results: dict, name: str, data_names: Sequence[str], seeds: Sequence[int],
                 ways: Mapping[str, Mapping[str, Any]], *, alternate: bool = False, agreement: bool = False,
                 kmeans: bool = False) -> None:
    """Fit every way (``label → DDCClustering parameters``) for every seed of every data set into
    ``results["data"]`` and write ``benchmarks/results/<name>.json`` after each seed.

    ``alternate``: every other seed fits the ways in reverse order, so that a drift of the
    machine's speed falls on both; ``agreement``: each row gets the NMI between the two ways'
    ``labels_``; ``kmeans``: each data set gets k-means++ (best of 20, ``ddc_tf.baselines``)."""
    from ddc_tf.baselines import kmeans_baseline

    for data_name in data_names:
        data = ddc_data.load_arrays(data_name)
        entry: dict[str, Any] = {"n": data.n}
        if kmeans:
            bar = kmeans_baseline(data.x, data.y, int(np.unique(data.y).size), seed=0)
            entry["kmeans"] = {"acc": bar["acc"], "nmi": bar["nmi"]}
        entry.update(per_seed=[], summary={})
        results["data"][data_name] = entry
        per_way: dict[str, list[dict]] = {way: [] for way in ways}
        for i, seed in enumerate(seeds):
            order = list(reversed(ways)) if alternate and i % 2 else list(ways)
            row, labels = {"seed": seed}, {}
            for way in order:
                row[way], labels[way] = fit_estimator(data, seed, **ways[way])
                per_way[way].append(row[way])
                print(data_name, seed, way, {k: v for k, v in row[way].items() if k != "runs_loss"}, flush=True)
            if agreement:
                first, second = ways
                row["nmi_between_ways"] = evaluation.nmi(labels[first], labels[second])
            entry["per_seed"].append(row)
            entry["summary"] = {way: summarise(fits) for way, fits in per_way.items()}
            write_results(name, results)
    print(f"→ benchmarks/results/{name}.json")
