"""Results JSON → the paper's tables (Table 1 and Table 2) as Markdown and CSV.

``ddc-tf table --results FILE_OR_DIR ... --out DIR`` reads

* protocol results (``results.json`` of ``ddc-tf fit``/``run_protocol``, or any JSON that
  embeds them, such as ``benchmarks/results/table1_*.json``) → **Table 1**: NMI and
  ACC [%] per method (k-means, k-means on the DDC hidden representation, DDC = the
  run the selector picks, DDC-VOTE, and the mean ± std over all runs that best-of-R hides) and
  data set, with the budget (runs × steps) each number used;
* ablation tables (``ablation.json`` of ``ddc-tf ablation``) → **Table 2**: ACC [%]
  mean ± std and max over repeats for every subset of the loss terms.

Where the paper reports the same data set (MNIST, Reuters), its numbers are shown beside
ours. Folders are searched recursively for ``*.json``; the per-subset protocol folders
inside an ablation are not read as Table 1 rows.

Example:
    >>> tables = render_tables(["outputs/digits", "outputs/ablation-digits"])
    >>> print(tables["table1.md"])  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ddc_tf.run_files import RUN_FILE, RUNS_DIR

__all__ = [
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "collect_results",
    "table1_rows",
    "table2_rows",
    "table1_markdown",
    "table2_markdown",
    "render_tables",
    "write_tables",
    "format_results_table",
    "nearly_empty_counts",
    "nearly_empty_note",
    "kmeans_wins_note",
]

#: The paper's Table 1 (NMI, ACC %) for the data sets we can run, by our data set name.
PAPER_TABLE1: dict[str, dict[str, tuple[float, float]]] = {
    "mnist": {"K-means": (0.50, 53.33), "DDC": (0.83, 86.58), "DDC-VOTE": (0.87, 88.49)},
    "reuters": {"K-means": (0.38, 60.5), "DDC": (0.50, 73.06), "DDC-VOTE": (0.51, 77.62)},
}
#: The paper's Table 2 (ACC %: mean, std, max over 5 repeats of 20 runs).
PAPER_TABLE2: dict[str, dict[str, tuple[float, float, float]]] = {
    "mnist": {
        "l1": (26.1, 2.9, 31.5), "l2": (48.9, 1.5, 51.8), "l3": (74.0, 2.9, 77.0),
        "l1+l2": (71.9, 8.0, 83.5), "l1+l3": (84.7, 5.1, 88.6), "l2+l3": (74.8, 5.5, 84.3),
        "l1+l2+l3": (80.8, 5.8, 87.5),
    },
    "reuters": {
        "l1": (39.3, 4.8, 48.7), "l2": (41.1, 2.9, 46.0), "l3": (70.2, 6.4, 78.8),
        "l1+l2": (66.0, 8.2, 75.9), "l1+l3": (64.8, 5.2, 72.7), "l2+l3": (70.3, 4.4, 75.4),
        "l1+l2+l3": (69.8, 7.3, 82.6),
    },
}
_COST_ORDER = ("l1", "l2", "l3", "l1+l2", "l1+l3", "l2+l3", "l1+l2+l3")
_PROTOCOL_KEYS = {"data", "n", "clusters", "steps", "runs", "best"}

TABLE1_COLUMNS = (
    "dataset", "budget", "method", "nmi", "acc_percent", "nmi_std", "acc_std_percent",
    "runs", "steps", "paper_nmi", "paper_acc_percent", "source",
)
TABLE2_COLUMNS = (
    "dataset", "budget", "cost", "acc_mean_percent", "acc_std_percent", "acc_max_percent",
    "nmi_mean", "nmi_std", "nmi_max", "repeats", "runs", "steps",
    "paper_acc_mean_percent", "paper_acc_std_percent", "paper_acc_max_percent", "source",
)


# ----------------------------------------------------------------------- reading
def _is_protocol(obj: Any) -> bool:
    return isinstance(obj, dict) and _PROTOCOL_KEYS <= set(obj) and isinstance(obj["runs"], list)


def _is_ablation(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("kind") == "ablation" and isinstance(obj.get("rows"), list)


def _walk(obj: Any, source: str, found: dict[str, list]) -> None:
    if _is_protocol(obj):
        found["protocol"].append({**obj, "_source": source})
    elif _is_ablation(obj):
        found["ablation"].append({**obj, "_source": source})
    elif isinstance(obj, dict):
        for value in obj.values():
            _walk(value, source, found)
    elif isinstance(obj, list):
        for value in obj:
            _walk(value, source, found)


def _json_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    ablation_dirs = [p.parent for p in path.rglob("ablation.json")]
    files = []
    for file in sorted(path.rglob("*.json")):
        inside_ablation = any(d in file.parents and file.parent != d for d in ablation_dirs)
        if inside_ablation:
            continue  # the per-subset protocols of an ablation are not Table 1 rows
        if file.name == RUN_FILE and file.parent.parent.name == RUNS_DIR and file.parent.name.startswith("seed_"):
            continue  # runs/seed_S/run.json: single runs, summarised by results.json
        files.append(file)
    return files


def collect_results(paths: Iterable[str | os.PathLike]) -> dict[str, list[dict[str, Any]]]:
    """Find protocol results and ablation tables in files and folders.

    Returns:
        ``{"protocol": [...], "ablation": [...]}``, each item the JSON object plus
        ``_source`` (the file it came from); duplicates (the same runs read from two
        files) are kept once.
    """
    found: dict[str, list] = {"protocol": [], "ablation": []}
    for path in paths:
        for file in _json_files(Path(path)):
            try:
                payload = json.loads(file.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise ValueError(f"{file}: not valid JSON ({error})") from None
            _walk(payload, str(file), found)
    unique: dict[str, list] = {"protocol": [], "ablation": []}
    seen = set()
    for kind, items in found.items():
        for item in items:
            if kind == "protocol":
                key = (kind, item["data"], item["n"], item["steps"],
                       tuple(r.get("seed") for r in item["runs"]), item["best"].get("loss"))
            else:
                key = (kind, item["data"], item["n"], item["steps"], item.get("runs"),
                       json.dumps([(r["name"], r.get("acc_mean")) for r in item["rows"]]))
            if key not in seen:
                seen.add(key)
                unique[kind].append(item)
    return unique


# ----------------------------------------------------------------------- Table 1
def _budget(item: dict[str, Any], runs: int, repeats: int | None = None) -> str:
    """``"20 runs × 70000 steps"`` (``"5 repeats × …"`` for an ablation), prefixed by the
    item's ``budget`` label if it has one."""
    text = f"{runs} run{'s' * (runs != 1)} × {item['steps']} steps"
    if repeats is not None:
        text = f"{repeats} repeat{'s' * (repeats != 1)} × {text}"
    label = item.get("budget")
    return f"{label}: {text}" if label else text


def refined_runs_of(item: dict[str, Any]) -> tuple[int, int | None]:
    """``(count, steps)`` of a protocol result's refined runs; ``steps`` is None for results
    written before refined runs had their own length (no ``refine`` record)."""
    count = sum(bool(r.get("refined")) for r in item["runs"])
    return count, (item.get("refine") or {}).get("steps")


def _paper_key(name: str) -> str | None:
    base = name.split("[")[0].strip().lower().replace("-", "_")
    return base if base in PAPER_TABLE1 else None


def _loss_note(item: dict[str, Any]) -> str:
    """What the row's training objective adds to or changes in the paper's loss, as
    ``" (weights 1, 0, 0; 5 neighbours)"``; ``""`` for the paper's loss. A row with a note is
    not put beside the paper's numbers."""
    config = item.get("config") or {}
    parts = []
    weights = config.get("loss_weights")
    if weights and any(float(w) != 1.0 for w in weights):
        whose = "weights" if config.get("method", "ddc") == "ddc" else "DDC pre-training's weights"
        parts.append(f"{whose} {', '.join(f'{float(w):g}' for w in weights)}")
    if config.get("neighbors"):
        parts.append(f"{config['neighbors']} neighbours")
    if config.get("balance_weight"):
        parts.append(f"balance term × {float(config['balance_weight']):g}")
    if config.get("kmeans_init"):
        parts.append(f"k-means start {config['kmeans_init']}")
    return f" ({'; '.join(parts)})" if parts else ""


def table1_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (data set, budget, method), in the paper's order of methods."""
    rows = []
    for item in results:
        paper = PAPER_TABLE1.get(_paper_key(item["data"]) or "", {})
        refined, refined_steps = refined_runs_of(item)
        budget = _budget(item, len(item["runs"]) - refined)
        if refined:
            budget += f" + {refined} refined" + (f" × {refined_steps}" if refined_steps is not None else "")
        if "selector" in item:  # results written before selectors existed picked by the loss
            vote = item.get("vote") or {}
            budget += f", {item['selector']} pick" + (f", VOTE of {len(vote['seeds'])}" if "seeds" in vote else "")
        if (precision := precision_of(item)) != "float32":
            budget += f", {precision}"
        common = {"dataset": item["data"], "budget": budget, "runs": len(item["runs"]) - refined,
                  "steps": item["steps"], "source": item.get("_source", "")}
        note = _loss_note(item)
        label = method_label(item)
        ddc = label == "DDC"  # the paper's numbers are DDC's

        def add(method: str, entry: dict | None, paper_name: str | None = None, std=None) -> None:
            if entry is None:
                return
            acc, nmi = entry.get("acc"), entry.get("nmi")
            ref = paper.get(paper_name or "")
            rows.append({
                **common, "method": method,
                "nmi": nmi, "acc_percent": None if acc is None else 100 * acc,
                "nmi_std": std[1] if std else None,
                "acc_std_percent": None if not std or std[0] is None else 100 * std[0],
                "paper_nmi": ref[0] if ref else None, "paper_acc_percent": ref[1] if ref else None,
            })

        add("K-means", item.get("kmeans"), "K-means")
        add(f"K-means on {label} hidden", item.get("kmeans_hidden"))
        add(label + note, item["best"], "DDC" if ddc and not note else None)
        add(f"{label}-VOTE" + note, item.get("vote"), "DDC-VOTE" if ddc and not note else None)
        add(f"{label}-ENSEMBLE" + note, item.get("ensemble"))
        add(f"{label}-DISTILLED" + note, item.get("distilled"))
        summary = item.get("summary")
        if summary and len(item["runs"]) - refined > 1:
            add(f"{label}{note}, independent runs (mean ± std)" if refined else f"{label}{note}, all runs (mean ± std)",
                {"acc": summary["acc_mean"], "nmi": summary["nmi_mean"]},
                std=(summary["acc_std"], summary["nmi_std"]))
    return rows


def precision_of(results: dict[str, Any]) -> str:
    """The Keras dtype policy a protocol's runs trained in, as ``results.json`` records it;
    ``"float32"`` for results of releases before it was recorded (the default then; a protocol
    asked for bf16 in those releases cannot be told from its results file)."""
    return str(results.get("precision", "float32"))


def method_label(results: dict[str, Any]) -> str:
    """``"DDC"``, ``"OT"`` or ``"DCAN"``: the method a protocol's results were trained with."""
    return str((results.get("config") or {}).get("method", "ddc")).upper()


def _fmt(value: float | None, digits: int, std: float | None = None) -> str:
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    return f"{text} ± {std:.{digits}f}" if std is not None else text


def _markdown(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines) + "\n"


def table1_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Table 1 as Markdown: Data set | Method | NMI | ACC [%] | Budget (| Paper NMI | Paper ACC)."""
    with_paper = any(r["paper_nmi"] is not None for r in rows)
    header = ["Data set", "Method", "NMI", "ACC [%]", "Budget"]
    if with_paper:
        header += ["Paper NMI", "Paper ACC [%]"]
    body, previous = [], None
    for r in rows:
        group = (r["dataset"], r["budget"], r["source"])  # each results file its own group
        cells = [
            r["dataset"] if group != previous else "",
            r["method"],
            _fmt(r["nmi"], 3, r["nmi_std"]),
            _fmt(r["acc_percent"], 2, r["acc_std_percent"]),
            r["budget"] if group != previous else "",
        ]
        if with_paper:
            cells += [_fmt(r["paper_nmi"], 2), _fmt(r["paper_acc_percent"], 2)]
        body.append(cells)
        previous = group
    return _markdown(header, body)


# ----------------------------------------------------------------------- Table 2
def table2_rows(ablations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (data set, budget, cost subset), in the paper's order of subsets."""
    rows = []
    for item in ablations:
        paper = PAPER_TABLE2.get(_paper_key(item["data"]) or "", {})
        by_name = {r["name"]: r for r in item["rows"]}
        for cost in [c for c in _COST_ORDER if c in by_name] + [c for c in by_name if c not in _COST_ORDER]:
            r = by_name[cost]
            ref = paper.get(cost)

            def pct(v):
                return None if v is None else 100 * v

            rows.append({
                "dataset": item["data"],
                "budget": _budget(item, item["runs"], repeats=item["repeats"]),
                "cost": cost,
                "acc_mean_percent": pct(r["acc_mean"]), "acc_std_percent": pct(r["acc_std"]),
                "acc_max_percent": pct(r["acc_max"]),
                "nmi_mean": r["nmi_mean"], "nmi_std": r["nmi_std"], "nmi_max": r["nmi_max"],
                "repeats": item["repeats"], "runs": item["runs"], "steps": item["steps"],
                "paper_acc_mean_percent": ref[0] if ref else None,
                "paper_acc_std_percent": ref[1] if ref else None,
                "paper_acc_max_percent": ref[2] if ref else None,
                "source": item.get("_source", ""),
            })
    return rows


def table2_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Table 2 as Markdown: one row per cost subset, ACC [%] mean ± std and max per ablation
    (and the paper's beside MNIST/Reuters). Each ablation (results file) has its own columns;
    two of the same data set are told apart as ``digits [1]``, ``digits [2]``, and the notes
    give each one's budget and file."""
    groups: list[tuple[str, str, str]] = []  # (data set, budget, source): one ablation each
    for r in rows:
        if (r["dataset"], r["budget"], r["source"]) not in groups:
            groups.append((r["dataset"], r["budget"], r["source"]))
    costs: list[str] = []
    for r in rows:
        if r["cost"] not in costs:
            costs.append(r["cost"])
    index = {(r["dataset"], r["budget"], r["source"], r["cost"]): r for r in rows}
    same_data = {dataset: [g for g in groups if g[0] == dataset] for dataset, _, _ in groups}
    labels = {g: g[0] if len(same_data[g[0]]) == 1 else f"{g[0]} [{same_data[g[0]].index(g) + 1}]" for g in groups}
    header = ["Cost"]
    for group in groups:
        header += [f"{labels[group]} mean ± std", f"{labels[group]} max"]
        if any(r["paper_acc_mean_percent"] is not None for r in rows if r["dataset"] == group[0]):
            header += [f"paper {group[0]} mean ± std", f"paper {group[0]} max"]
    body = []
    for cost in costs:
        cells = [cost]
        for group in groups:
            r = index.get((*group, cost))
            cells += [_fmt(r["acc_mean_percent"], 1, r["acc_std_percent"]) if r else "–",
                      _fmt(r["acc_max_percent"], 1) if r else "–"]
            if any(x["paper_acc_mean_percent"] is not None for x in rows if x["dataset"] == group[0]):
                cells += [_fmt(r["paper_acc_mean_percent"], 1, r["paper_acc_std_percent"]) if r else "–",
                          _fmt(r["paper_acc_max_percent"], 1) if r else "–"]
        body.append(cells)
    notes = "".join(f"\n{labels[group]}: {group[1]}; ACC [%] of each repeat's lowest-loss run"
                    + (f" ({group[2]})" if len(same_data[group[0]]) > 1 and group[2] else "") + ".\n"
                    for group in groups)
    return _markdown(header, body) + notes


# ----------------------------------------------------------------------- output
def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r.get(k) is None else r[k] for k in columns})
    return buffer.getvalue()


def render_tables(paths: Iterable[str | os.PathLike]) -> dict[str, str]:
    """Render every table the results under ``paths`` support.

    Returns:
        ``{file name: text}`` among ``table1.md``, ``table1.csv``, ``table2.md``,
        ``table2.csv`` (a table without results is left out).

    Raises:
        ValueError: no protocol results and no ablation found.
    """
    paths = list(paths)
    found = collect_results(paths)
    found["ablation"] = [a for a in found["ablation"] if a["rows"]]  # one whose first subset is still training
    if not found["protocol"] and not found["ablation"]:
        raise ValueError(
            f"no results found in {', '.join(map(str, paths))}: expected results.json of "
            "`ddc-tf fit`, ablation.json of `ddc-tf ablation`, or JSON that embeds them"
        )
    tables: dict[str, str] = {}
    if found["protocol"]:
        rows = table1_rows(found["protocol"])
        tables["table1.md"] = (
            "Table 1: clustering NMI and ACC [%] (DDC = the run the label-free selector named in "
            "the budget picks; DDC-VOTE = vote of its best-ranked runs, as many as the budget says).\n\n" + table1_markdown(rows)
        )
        tables["table1.csv"] = _csv(rows, TABLE1_COLUMNS)
    if found["ablation"]:
        rows = table2_rows(found["ablation"])
        tables["table2.md"] = (
            "Table 2: ablation of the loss terms, ACC [%] mean ± std and max over repeats.\n\n"
            + table2_markdown(rows)
        )
        tables["table2.csv"] = _csv(rows, TABLE2_COLUMNS)
    return tables


#: The files :func:`write_tables` may write.
TABLE_FILES = ("table1.md", "table1.csv", "table2.md", "table2.csv")


def write_tables(paths: Iterable[str | os.PathLike], out_dir: str | os.PathLike) -> dict[str, Path]:
    """:func:`render_tables` and write each table into ``out_dir``; a table file of an earlier
    call that these results do not make is removed (it would sit beside the new ones as if
    made from them). Returns the written files."""
    out = Path(out_dir)
    tables = render_tables(paths)  # first: a folder is made only for tables
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: a file, not a folder for the tables")
    out.mkdir(parents=True, exist_ok=True)
    for name in set(TABLE_FILES) - set(tables):
        (out / name).unlink(missing_ok=True)
    written = {}
    for name, text in tables.items():
        (out / name).write_text(text)
        written[name] = out / name
    return written


# --------------------------------------------------------------------------- one protocol
def _format(value: float | None, pattern: str) -> str:
    """``value`` in ``pattern`` (e.g. ``">9.4f"``); a missing value is a dash padded alike."""
    if value is None:
        return format("—", pattern.split(".")[0])
    return format(value, pattern)


#: A cluster holding less than this share of the points counts as nearly empty.
NEARLY_EMPTY_SHARE = 0.01


def nearly_empty_counts(results: dict[str, Any]) -> list[int]:
    """Per independent run of a protocol's ``results`` (in order; the refined runs apart), how
    many clusters hold fewer than ``NEARLY_EMPTY_SHARE`` of the points, from its
    ``cluster_sizes`` (no labels needed); ``[]`` for results that do not record sizes."""
    sizes = [run["cluster_sizes"] for run in results["runs"] if not run.get("refined") and run.get("cluster_sizes")]
    return [sum(size < NEARLY_EMPTY_SHARE * sum(run) for size in run) for run in sizes]


def nearly_empty_note(results: dict[str, Any]) -> list[str]:
    """Lines saying how many clusters the median independent run leaves nearly empty
    (:func:`nearly_empty_counts`), with the option that keeps them filled when the runs trained
    DDC's neighbour term without the balance term. No lines when the median run fills every
    cluster."""
    counts = nearly_empty_counts(results)
    median = float(np.median(counts)) if counts else 0.0
    if median < 1:
        return []
    lines = [f"{'':<14}{'':>10}  the independent runs leave a median {median:g} of "
             f"{results['clusters']} clusters with < 1 % of the points"]
    config = results.get("config", {})
    if config.get("neighbors") and not config.get("balance_weight") and config.get("method", "ddc") == "ddc":
        lines.append(f"{'':<14}{'':>10}  (the neighbour term merges clusters; if yours should be of similar size, "
                     f"`ddc-tf fit --balance-weight 1` keeps them: README, \"Beating k-means\", item 12)")
    return lines


def kmeans_wins_note(results: dict[str, Any], kmeans: dict[str, Any]) -> list[str]:
    """A line when k-means++ scores above DDC's result — the saved model (DDC-DISTILLED), or
    the chosen run without one — in both ACC and NMI, pointing to where the README measures
    such data; no lines otherwise or without labels."""
    ddc = results.get("distilled") or results.get("best") or {}
    scores = (ddc.get("acc"), ddc.get("nmi"), kmeans.get("acc"), kmeans.get("nmi"))
    if any(score is None for score in scores) or not (scores[2] > scores[0] and scores[3] > scores[1]):
        return []
    return [f"{'':<14}{'':>10}  (k-means++ is above DDC in ACC and NMI here; on small tables of a few "
            f"features it often is, and is the method to use: README, \"Small tabular data\")"]


def format_results_table(results: dict[str, Any], kmeans: dict[str, Any] | None = None) -> str:
    """A short plain-text table of a protocol's results (one line per run, then the summary)."""
    lines: list[str] = []
    precision = precision_of(results)
    lines.append(f"\n{results['data']}: n={results['n']}, k={results['clusters']}, steps={results['steps']}"
                 + ("" if precision == "float32" else f", precision={precision}"))
    lines.append(f"{'run (seed)':<14}{'loss':>10}{'ACC':>9}{'NMI':>8}")
    selector = results.get("selector", "loss")
    for run in sorted(results["runs"], key=lambda r: r["loss"]):
        mark = f"  ← chosen ({selector})" if run["seed"] == results["best"]["seed"] else ""
        name = f"{run['seed']} refined" if run.get("refined") else str(run["seed"])
        lines.append(
            f"{name:<14}{run['loss']:>10.4f}{_format(run['acc'], '>9.4f')}"
            f"{_format(run['nmi'], '>8.4f')}{mark}"
        )
    best = results["best"]
    label = method_label(results)
    lines.append(f"{label + ' (best)':<14}{best['loss']:>10.4f}{_format(best['acc'], '>9.4f')}{_format(best['nmi'], '>8.4f')}")
    if results.get("vote"):
        vote = results["vote"]
        lines.append(f"{label + '-VOTE':<14}{'':>10}{_format(vote['acc'], '>9.4f')}{_format(vote['nmi'], '>8.4f')}"
              f"  (best {len(vote.get('seeds', ())) or 3} runs)")
    if results.get("ensemble"):
        combined = results["ensemble"]
        lines.append(f"{label + '-ENSEMBLE':<14}{'':>10}{_format(combined['acc'], '>9.4f')}{_format(combined['nmi'], '>8.4f')}"
              f"  (consensus of the {len(combined['seeds'])} independent runs)")
    if results.get("distilled"):
        distilled = results["distilled"]
        lines.append(f"{label + '-DISTILLED':<14}{'':>10}{_format(distilled['acc'], '>9.4f')}"
                     f"{_format(distilled['nmi'], '>8.4f')}  (run {distilled['seed']} fine-tuned "
                     f"{distilled['steps']} steps on the ensemble: the saved model)")
    if results.get("summary"):
        s = results["summary"]
        refined = s.get("refined_acc_mean") is not None
        lines.append(
            f"{'indep. runs' if refined else 'all runs':<14}{'':>10}  ACC {s['acc_mean']:.4f} ± {s['acc_std']:.4f} "
            f"(max {s['acc_max']:.4f}), NMI {s['nmi_mean']:.4f} ± {s['nmi_std']:.4f}"
        )
        if refined:
            lines.append(f"{'refined runs':<14}{'':>10}  ACC {s['refined_acc_mean']:.4f}, NMI {s['refined_nmi_mean']:.4f} "
                         f"(mean; they start from {label}-ENSEMBLE)")
        if s.get("chosen_acc_rank") is not None and len(results["runs"]) > 1:
            lines.append(f"{'':<14}{'':>10}  the chosen run is #{s['chosen_acc_rank']} of {len(results['runs'])} "
                  f"runs by ACC (labels used for this report only)")
    lines.extend(nearly_empty_note(results))
    if kmeans is not None:
        lines.append(f"{'k-means++':<14}{'':>10}{_format(kmeans['acc'], '>9.4f')}{_format(kmeans['nmi'], '>8.4f')}")
        lines.extend(kmeans_wins_note(results, kmeans))
    if results.get("kmeans_hidden"):
        hidden = results["kmeans_hidden"]
        lines.append(f"{'k-means hid.':<14}{'':>10}{_format(hidden['acc'], '>9.4f')}{_format(hidden['nmi'], '>8.4f')}"
              f"  (on the hidden representation of run {hidden['ddc_seed']})")
    return "\n".join(lines)
