"""DDC against k-means++ on data sets it was not tuned on: random imbalanced topic subsets of 20news.

Every default of ``ddc-tf fit`` was chosen on digits, the 4-root 20news task and
Fashion-MNIST. This benchmark asks what a new user with *other* text would see: each subset
draws ``--topics`` of the 20 newsgroups at random (seeded) and keeps a decreasing share of
each one's posts (``--fractions``, 100 % … 12 % by default, so the topics are imbalanced as
real collections are), writes it as a sparse ``.npz`` (the bring-your-own layout, rows
sorted by topic as stored data often is) and runs exactly what the user would:

    ddc-tf fit --data <subset>.npz --kmeans --out <work>/fit_<s> --quiet

at every default, in a fresh process. It reports, per subset and as mean ± std over
subsets, ACC / NMI of the consensus pick, DDC-VOTE, DDC-ENSEMBLE, the saved model
(DDC-DISTILLED), the independent runs' mean, and k-means++ (best of 20), and in how many
subsets each DDC result beats k-means++ in both, and per independent run how many clusters
hold fewer than 1 % of the posts. The labels only score; ``ddc-tf fit`` sees them only for
its report.

    python benchmarks/news_subsets.py --subsets 5                   # 8 topics, seeds 0–4
    python benchmarks/news_subsets.py --subsets 3 --topics 6 --fractions 1 .7 .5 .35 .25 .15

Needs `20news_tfidf2000.npz` (``$DDC_TF_DATA_DIR`` or the shared data folder). Writes
``benchmarks/results/<name>.json``; the subsets and fit folders go under ``--work``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from common import run_fit, write_results

RESULTS = ("best", "vote", "ensemble", "distilled")


def load_groups() -> tuple[object, np.ndarray, tuple[str, ...]]:
    """The 20-group task: CSR TF-IDF ``(18 846, 2000)``, group ids ``(n,)``, group names."""
    from ddc_tf.data.newsgroups import load_20news

    data = load_20news(task="groups")
    return data.x, np.asarray(data.y), data.class_names


def make_subset(x, y: np.ndarray, names: tuple[str, ...], topics: int, fractions: list[float], seed: int,
                path: Path) -> dict:
    """Draw ``topics`` groups (seeded), keep ``fractions[i]`` of group i's posts, write the CSR
    ``.npz`` sorted by topic; return what was drawn."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(int(y.max()) + 1, size=topics, replace=False)
    rows, labels = [], []
    for topic, (group, fraction) in enumerate(zip(chosen, fractions)):
        members = np.flatnonzero(y == group)
        keep = np.sort(rng.choice(members, size=max(1, round(fraction * members.size)), replace=False))
        rows.append(keep)
        labels.append(np.full(keep.size, topic, dtype=np.int64))
    sub = x[np.concatenate(rows)].tocsr()
    np.savez(path, data=sub.data, indices=sub.indices, indptr=sub.indptr, shape=np.array(sub.shape),
             y=np.concatenate(labels))
    return {"seed": seed, "groups": [str(names[g]) for g in chosen], "sizes": [int(r.size) for r in rows],
            "n": int(sub.shape[0])}


def summarise(rows: list[dict]) -> dict:
    """Mean ± std over subsets of every result, and how many subsets each beats k-means++ in."""
    out = {}
    for key in (*RESULTS, "runs_mean", "kmeans"):
        acc = np.array([r[key]["acc"] for r in rows])
        nmi = np.array([r[key]["nmi"] for r in rows])
        out[key] = {"acc_mean": float(acc.mean()), "acc_std": float(acc.std()),
                    "nmi_mean": float(nmi.mean()), "nmi_std": float(nmi.std())}
        if key != "kmeans":
            out[key]["beats_kmeans_both"] = int(sum(
                r[key]["acc"] > r["kmeans"]["acc"] and r[key]["nmi"] > r["kmeans"]["nmi"] for r in rows))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subsets", type=int, default=5, help="random subsets, seeds --first … (default 5)")
    parser.add_argument("--first", type=int, default=0, help="seed of the first subset")
    parser.add_argument("--topics", type=int, default=8, help="newsgroups per subset (default 8)")
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.8, 0.6, 0.45, 0.35, 0.25, 0.18, 0.12],
                        help="share of each drawn group's posts kept, one per topic")
    parser.add_argument("--work", default="outputs/news_subsets", help="folder for the subsets and fit outputs")
    parser.add_argument("--name", default="news_subsets")
    parser.add_argument("fit_args", nargs=argparse.REMAINDER, help="after --: more ddc-tf fit flags")
    args = parser.parse_args()
    from ddc_tf.experiments.tables import nearly_empty_counts

    if len(args.fractions) != args.topics:
        raise SystemExit(f"--fractions needs {args.topics} values (one per topic), got {len(args.fractions)}")
    if not all(0 < f <= 1 for f in args.fractions):
        raise SystemExit(f"--fractions must lie in (0, 1], got {args.fractions}")
    extra = [a for a in args.fit_args if a != "--"]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    x, y, names = load_groups()
    rows = []
    for seed in range(args.first, args.first + args.subsets):
        path = work / f"news{args.topics}_{seed}.npz"
        drawn = make_subset(x, y, names, args.topics, args.fractions, seed, path)
        results, seconds, command = run_fit(path, work / f"fit_{args.topics}_{seed}", extra)
        row = {**drawn, "seconds": seconds, "command": " ".join(["ddc-tf", *command[1:]]),
               **{key: {"acc": results[key]["acc"], "nmi": results[key]["nmi"]} for key in RESULTS},
               "runs_mean": {"acc": results["summary"]["acc_mean"], "nmi": results["summary"]["nmi_mean"]},
               "kmeans": {"acc": results["kmeans"]["acc"], "nmi": results["kmeans"]["nmi"]},
               "chosen_acc_rank": results["summary"]["chosen_acc_rank"], "runs": len(results["runs"]),
               "nearly_empty_clusters": nearly_empty_counts(results),
               "cluster_sizes": [r["cluster_sizes"] for r in results["runs"]]}  # every run's, refined ones last
        rows.append(row)
        print(f"subset {seed} {drawn['sizes']}: pick {row['best']['acc']:.3f}/{row['best']['nmi']:.3f} "
              f"VOTE {row['vote']['acc']:.3f}/{row['vote']['nmi']:.3f} "
              f"ENSEMBLE {row['ensemble']['acc']:.3f}/{row['ensemble']['nmi']:.3f} "
              f"saved {row['distilled']['acc']:.3f}/{row['distilled']['nmi']:.3f} "
              f"runs {row['runs_mean']['acc']:.3f}/{row['runs_mean']['nmi']:.3f} "
              f"k-means++ {row['kmeans']['acc']:.3f}/{row['kmeans']['nmi']:.3f} ({seconds:.0f} s); "
              f"clusters < 1 % per run {row['nearly_empty_clusters']}", flush=True)
    summary = summarise(rows)
    path = write_results(args.name, {
        "command": "python benchmarks/news_subsets.py " + " ".join(sys.argv[1:]),
        "topics": args.topics, "fractions": args.fractions, "fit_flags": extra, "subsets": rows, "summary": summary})
    for key, s in summary.items():
        beats = f", beats k-means++ in both in {s['beats_kmeans_both']} of {len(rows)}" if key != "kmeans" else ""
        print(f"{key:10s} ACC {s['acc_mean']:.3f} ± {s['acc_std']:.3f}  NMI {s['nmi_mean']:.3f} ± {s['nmi_std']:.3f}{beats}")
    print(f"wrote {path}")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
