"""Run every scikit-learn estimator check on ``ddc_tf.sklearn.DDCClustering``.

    python benchmarks/sklearn_checks.py

Writes benchmarks/results/sklearn_checks.json: each check's status (passed, failed,
expected to fail — with the reason, from tests/test_sklearn.py — or skipped).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sklearn.utils.estimator_checks import check_estimator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from ddc_tf.sklearn import DDCClustering  # noqa: E402
from test_sklearn import EXPECTED_FAILURES  # noqa: E402


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    start = time.perf_counter()
    estimator = DDCClustering(n_clusters=2, runs=1, steps=3, batch_size=20, random_state=0)
    results = check_estimator(estimator, expected_failed_checks=EXPECTED_FAILURES, on_fail=None)
    rows = [{"check": r["check_name"], "status": r["status"],
             "reason": r.get("expected_to_fail_reason") if r["status"] == "xfail" else None,
             "error": None if r["exception"] is None or r["status"] == "xfail" else str(r["exception"])[:300]}
            for r in results]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    out = {"estimator": repr(estimator), "seconds": round(time.perf_counter() - start, 1), "counts": counts,
           "checks": rows}
    path = ROOT / "benchmarks" / "results" / "sklearn_checks.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(counts, f"→ {path}")


if __name__ == "__main__":
    main()
