"""kill -9 a `ddc-tf fit` in the middle of a run, re-run the same command, compare.

For each kill point (run r, after its chunk c was backed up, or at a random instant), the
interrupted-then-resumed protocol folder's results must equal an uninterrupted run's: every
run's loss to 1e-6, the same ACC and the full history (10 chunks).

    python benchmarks/resume_kill.py [--method ddc] [--steps 300] [--runs 3]

Writes benchmarks/results/resume_kill_<method>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def command(out: Path, args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "ddc_tf.cli", "fit", "--data", args.data, "--steps", str(args.steps),
            "--runs", str(args.runs), "--method", args.method, "--out", str(out), "--quiet"]


def runs_of(out: Path, args: argparse.Namespace) -> list[dict]:
    return [json.loads((out / "runs" / f"seed_{s}" / "run.json").read_text()) for s in range(args.runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--method", default="ddc", choices=("ddc", "ot", "dcan"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill instants")
    args = parser.parse_args()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp())
    reference = work / "uninterrupted"
    start = time.perf_counter()
    subprocess.run(command(reference, args), check=True, env=env, capture_output=True)
    seconds = time.perf_counter() - start
    want = runs_of(reference, args)
    kills = [("chunk", 0, 2), ("chunk", args.runs // 2, 5), ("chunk", args.runs - 1, 9),
             ("instant", None, rng.uniform(0.2, 0.9) * seconds)]
    trials = []
    for kind, run, at in kills:
        out = work / f"killed_{len(trials)}"
        process = subprocess.Popen(command(out, args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.perf_counter()
        state = out / "runs" / f"seed_{run}" / "backup" / "state.json" if kind == "chunk" else None
        while process.poll() is None:
            if kind == "chunk":
                try:
                    if json.loads(state.read_text())["epoch"] >= at:
                        break
                except (OSError, ValueError, KeyError):
                    pass
            elif time.perf_counter() - t0 >= at:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        subprocess.run(command(out, args), check=True, env=env, capture_output=True)
        got = runs_of(out, args)
        trials.append({
            "kill": kind, "run": run, "at": round(at, 2) if kind == "instant" else at,
            "max_loss_difference": max(abs(g["loss"] - w["loss"]) for g, w in zip(got, want)),
            "same_acc": all(g["acc"] == w["acc"] for g, w in zip(got, want)),
            "history_chunks": [len(g["history"]["loss"]) for g in got],
        })
        print(trials[-1], flush=True)
    result = {
        "command": " ".join(command(Path("OUT"), args)),
        "uninterrupted_seconds": round(seconds, 1),
        "trials": trials,
        "all_equal": all(t["max_loss_difference"] <= 1e-6 and t["same_acc"]
                         and all(c == 10 for c in t["history_chunks"]) for t in trials),
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"resume_kill_{args.method}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'all equal' if result['all_equal'] else 'MISMATCH'}; wrote {path}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
