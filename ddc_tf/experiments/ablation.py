"""The paper's Table 2 ablation: which of the three loss terms matter.

For every non-empty subset of ``{l1, l2, l3}`` (the others get weight 0), the protocol is
repeated ``repeats`` times (5 in the paper), each repeat being ``runs`` runs (20 in the
paper) on fresh seeds; each repeat reports its **lowest-loss** run (the loss of that
subset — no labels), and the table gives the mean ± std and the max of those repeats'
ACC (and NMI). Every subset trains on the same seeds, so the comparison is paired.

Repeat ``r`` of every subset uses seeds ``seed + r·runs … seed + (r+1)·runs − 1``. With an
output folder every run is kept (``<out>/<subset>/repeat_<r>/``, see
:func:`ddc_tf.experiments.protocol.run_protocol`), so an interrupted ablation resumes where it
stopped, and ``<out>/ablation.json`` holds the table.

Example:
    >>> from ddc_tf import data
    >>> from ddc_tf.experiments.training import TrainConfig
    >>> arrays = data.load_arrays("digits")
    >>> table = run_ablation(arrays, TrainConfig(n_clusters=10, backbone="mlp", steps=1500,
    ...                      learning_rate=1e-3), repeats=3, runs=5, out_dir="out/ablation")
    >>> table["rows"][0]["terms"], table["rows"][0]["acc_mean"]  # doctest: +SKIP
    (['l1'], 0.31)
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ddc_tf.data import ArrayData
from ddc_tf.losses import TERM_NAMES
from ddc_tf.experiments.protocol import run_protocol
from ddc_tf.experiments.training import TrainConfig

__all__ = ["SUBSETS", "ABLATION_FILE", "subset_name", "parse_subset", "subset_weights", "run_ablation"]

#: Every non-empty subset of the terms, in the paper's Table 2 order.
SUBSETS: tuple[tuple[str, ...], ...] = tuple(
    subset for size in (1, 2, 3) for subset in itertools.combinations(TERM_NAMES, size)
)
ABLATION_FILE = "ablation.json"


def subset_name(terms: Sequence[str]) -> str:
    """``("l1", "l3")`` → ``"l1+l3"`` (the paper's row label)."""
    return "+".join(terms)


def parse_subset(text: str) -> tuple[str, ...]:
    """``"l1+l3"`` (or ``"l1,l3"``) → ``("l1", "l3")`` in canonical order; clear error otherwise."""
    parts = [p.strip() for p in text.replace(",", "+").split("+") if p.strip()]
    unknown = sorted(set(parts) - set(TERM_NAMES))
    if not parts or unknown:
        raise ValueError(
            f"loss-term subset {text!r}: expected terms from {list(TERM_NAMES)} joined by '+', "
            "e.g. 'l1+l3'"
        )
    return tuple(t for t in TERM_NAMES if t in parts)


def subset_weights(terms: Sequence[str]) -> tuple[float, float, float]:
    """Loss weights that keep ``terms`` (weight 1, as in the paper) and switch off the rest."""
    return tuple(1.0 if name in terms else 0.0 for name in TERM_NAMES)  # type: ignore[return-value]


def _stats(values: list[float | None], prefix: str) -> dict[str, float | None]:
    if not values or any(v is None for v in values):
        return {f"{prefix}_mean": None, f"{prefix}_std": None, f"{prefix}_max": None}
    arr = np.asarray(values, dtype=float)
    return {f"{prefix}_mean": float(arr.mean()), f"{prefix}_std": float(arr.std()),
            f"{prefix}_max": float(arr.max())}


def run_ablation(
    data: ArrayData,
    config: TrainConfig,
    *,
    subsets: Sequence[Sequence[str]] = SUBSETS,
    repeats: int = 5,
    runs: int = 20,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    verbose: int | str = 0,
) -> dict[str, Any]:
    """Train the Table 2 ablation and return (and write) its table.

    Args:
        data: the data set (labels only for reporting ACC/NMI).
        config: the configuration every subset shares; its ``loss_weights`` are replaced
            per subset.
        subsets: which term subsets to train (default: all seven).
        repeats: repeats per subset (5 in the paper).
        runs: runs per repeat; the lowest-loss run of each repeat counts (20 in the paper).
        seed: first seed.
        out_dir: where runs and ``ablation.json`` go (``None``: in memory only). The file is
            written before the first run (no rows yet) and after every subset. Rows an
            earlier call left there for other subsets, of the same data, configuration,
            repeats, runs and seeds, are kept (a second call with other ``subsets`` adds to
            the table); a table of other settings is replaced once the first subset is done
            (a warning says so; an error before then leaves it).
        verbose: Keras ``fit`` verbosity.

    Returns:
        ``{"kind": "ablation", "data", "n", "clusters", "steps", "runs", "repeats",
        "config", "rows"}``; one row per subset: ``{"terms", "name", "weights",
        "repeats": [{seeds, best: {seed, loss, acc, nmi}, vote, acc_mean}], "acc_mean",
        "acc_std", "acc_max", "nmi_mean", "nmi_std", "nmi_max"}`` — statistics over the
        repeats' lowest-loss runs (the paper's Table 2); ACC/NMI are None without labels.
    """
    if repeats < 1 or runs < 1:
        raise ValueError(f"repeats and runs must be ≥ 1, got repeats={repeats}, runs={runs}")
    canonical = [parse_subset("+".join(terms)) for terms in subsets]
    if not canonical:
        raise ValueError("no loss-term subsets to train")
    out = Path(out_dir) if out_dir is not None else None
    table: dict[str, Any] = {
        "kind": "ablation",
        "data": data.name,
        "n": data.n,
        "clusters": config.n_clusters,
        "steps": config.steps,
        "runs": runs,
        "repeats": repeats,
        "config": {k: v for k, v in config.to_dict().items() if k != "loss_weights"},
        "rows": [],
    }
    names = [subset_name(terms) for terms in canonical]
    earlier_rows, replaces = _earlier_rows(out / ABLATION_FILE, table, seed, names) if out is not None else ([], False)

    def write(rows: list[dict[str, Any]]) -> None:
        if out is not None:  # the table so far: a partial ablation is still readable
            out.mkdir(parents=True, exist_ok=True)
            (out / ABLATION_FILE).write_text(json.dumps({**table, "rows": rows}, indent=2) + "\n")

    if not replaces:  # marks the folder as an ablation's before its runs' results.json appear (another
        write(earlier_rows)  # table already marks it, and stays until this one has a row to replace it)
    for terms in canonical:
        name = subset_name(terms)
        sub_config = dataclasses.replace(config, loss_weights=subset_weights(terms))
        done = []
        for r in range(repeats):
            results, _ = run_protocol(
                data,
                sub_config,
                runs=runs,
                seed=seed + r * runs,
                out_dir=out / name / f"repeat_{r}" if out is not None else None,
                verbose=verbose,
                selector="loss",  # Table 2 is the paper's: each repeat's lowest-loss run
            )
            done.append({
                "seeds": [run["seed"] for run in results["runs"]],
                "best": results["best"],
                "vote": results["vote"],
                "acc_mean": results["summary"]["acc_mean"] if results["summary"] else None,
            })
        table["rows"].append({
            "terms": list(terms),
            "name": name,
            "weights": list(sub_config.loss_weights),
            "repeats": done,
            **_stats([d["best"]["acc"] for d in done], "acc"),
            **_stats([d["best"]["nmi"] for d in done], "nmi"),
        })
        write(earlier_rows + table["rows"])
    table["rows"] = earlier_rows + table["rows"]
    return table


def _repeat_seeds(seed: int, runs: int, repeats: int) -> list[list[int]]:
    """The seeds of each repeat: repeat r trains ``seed + r·runs`` onward."""
    return [[seed + r * runs + i for i in range(runs)] for r in range(repeats)]


def _earlier_rows(file: Path, table: dict[str, Any], seed: int, names: list[str]) -> tuple[list[dict[str, Any]], bool]:
    """``(rows, replaces)``: the rows of an earlier ``ablation.json`` at ``file`` for subsets
    other than ``names``, when it is of the same data, configuration, repeats, runs and seeds
    as ``table``; else none, and ``replaces`` True when a table of other settings is there (it
    will be replaced once this ablation's first subset is done; a warning says so)."""
    if not file.is_file():
        return [], False
    try:
        earlier = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        earlier = None
    keys = ("kind", "data", "n", "clusters", "steps", "runs", "repeats", "config")
    same = isinstance(earlier, dict) and all(earlier.get(k) == table[k] for k in keys) and all(
        [d.get("seeds") for d in row.get("repeats", [])] == _repeat_seeds(seed, table["runs"], table["repeats"])
        for row in earlier.get("rows", [])
    )
    if not same:
        warnings.warn(f"{file}: an ablation of other data, settings or seeds (or not one); it will be replaced "
                      "by this one once its first subset is done", stacklevel=3)
        return [], True
    return [row for row in earlier.get("rows", []) if row.get("name") not in names], False
