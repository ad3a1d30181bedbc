"""What tf.data's autotuner cost ``ddc-tf fit``: the same command with it on and off.

    python benchmarks/pipeline_teardown.py --data digits 20news --rounds 3 --work /tmp/teardown
    python benchmarks/pipeline_teardown.py --data digits 20news --rounds 2 --verbose --work W --name N

``to_dataset`` turns the autotuner off (``ddc_tf.data.pipeline.TUNE_PIPELINES``): with it on,
dropping the iterator of a finished group of runs waited for the autotuner's thread, which
sleeps between optimisations for up to a minute, and ``fit`` stalled for tens of seconds at
a time — how long depends on where the thread is in its sleep, so it varies from fit to fit.
For every round, data set and arm this runs ``ddc-tf fit --data D --kmeans`` at every
default in a fresh process (``on``: the module constant set to True first), the arms one
after the other in the order given (reversed every other round), and writes
``benchmarks/results/<name>.json``: each fit's wall time, its runs' losses, ACC and seconds
(a group's training time divided among its runs; a stall while a run is scored is outside
it), its protocol results, whether every fit trained every run identically, and per data
set the median wall time of each arm. ``--work`` holds the fit folders (removed first: every
fit starts empty). 20news needs ``DDC_TF_DATA_DIR``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import fit_arguments, write_results

#: The two arms: the constant ``TUNE_PIPELINES`` each fit runs with.
ARMS = {"off": False, "on": True}
PROTOCOL_KEYS = ("best", "vote", "ensemble", "distilled", "kmeans")


def launcher(tune: bool) -> list[str]:
    """A Python command running the ``ddc-tf`` CLI with ``TUNE_PIPELINES = tune``."""
    code = (f"import ddc_tf.data.pipeline as p; p.TUNE_PIPELINES = {tune}; import sys; "
            "from ddc_tf.cli import main; sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", code]


def fit(data: str, out: Path, tune: bool, verbose: bool) -> dict:
    """One ``ddc-tf fit`` in a fresh process from an empty ``out``: wall time and results
    (``verbose``: without ``--quiet``, Keras' progress lines printed, as a user sees them)."""
    shutil.rmtree(out, ignore_errors=True)
    arguments = fit_arguments(Path(data), out, [])
    if verbose:
        arguments.remove("--quiet")
    command = launcher(tune) + arguments
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    results = json.loads((out / "results.json").read_text())
    return {
        "command": " ".join(["ddc-tf", *arguments]),
        "tune_pipelines": tune,
        "wall_seconds": round(seconds, 1),
        "runs": [{key: run.get(key) for key in ("seed", "loss", "acc", "nmi", "seconds")} for run in results["runs"]],
        **{key: results.get(key) for key in PROTOCOL_KEYS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["digits", "20news"], help="data sets given to ddc-tf fit --data")
    parser.add_argument("--arms", nargs="+", choices=sorted(ARMS), default=["on", "off"],
                        help="the arms, in the order they run (default: on, then off)")
    parser.add_argument("--verbose", action="store_true",
                        help="run the fits without --quiet, printing Keras' progress (to a pipe) as a user sees it")
    parser.add_argument("--rounds", type=int, default=1, help="fits per data set and arm (default 1)")
    parser.add_argument("--work", type=Path, required=True, help="folder for the fit folders")
    parser.add_argument("--name", default="pipeline_teardown", help="results file name")
    args = parser.parse_args()
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    report = {data: {"fits": []} for data in args.data}
    for round_ in range(args.rounds):
        order = args.arms if round_ % 2 == 0 else args.arms[::-1]
        for data in args.data:
            for arm in order:
                result = fit(data, args.work / f"{Path(data).stem}_{arm}", ARMS[arm], args.verbose)
                report[data]["fits"].append({"round": round_, "arm": arm, **result})
                print(f"round {round_}, {data}, autotuner {arm}: {result['wall_seconds']} s", flush=True)
    for entry in report.values():
        fits = entry["fits"]
        entry["runs_identical"] = len({tuple((r["loss"], r["acc"]) for r in f["runs"]) for f in fits}) == 1
        entry["median_wall_seconds"] = {
            arm: statistics.median(f["wall_seconds"] for f in fits if f["arm"] == arm) for arm in args.arms
        }
        if set(args.arms) == set(ARMS):
            medians = entry["median_wall_seconds"]
            entry["off_over_on"] = round(medians["off"] / medians["on"], 3)
    print(json.dumps({d: {k: v for k, v in e.items() if k != "fits"} for d, e in report.items()}))
    print(write_results(args.name, {"data": report}))


if __name__ == "__main__":
    main()
