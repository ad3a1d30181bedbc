"""How long the ``ddc-tf`` command takes before it does any work.

    python benchmarks/cli_startup.py [--repeats 5]

Times (wall clock, median of the repeats) ``ddc-tf --help``, ``ddc-tf fit --help``, an
argument error (``ddc-tf fit --runs x``), ``python -m ddc_tf.cli --help`` and, for contrast, ``python -c "import ddc_tf"``
(the library with TensorFlow). Writes benchmarks/results/cli_startup.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "cli_startup.json"


def timed(command: list[str], repeats: int) -> dict:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
    return {"command": " ".join(command), "exit": done.returncode, "median_s": round(statistics.median(seconds), 3),
            "max_s": round(max(seconds), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    script = shutil.which("ddc-tf")
    if script is None:
        sys.exit("the ddc-tf console script is not installed (pip install -e .)")
    rows = [timed([script, "--help"], args.repeats), timed([script, "fit", "--help"], args.repeats),
            timed([script, "fit", "--runs", "x"], args.repeats),
            timed([sys.executable, "-m", "ddc_tf.cli", "--help"], args.repeats),
            timed([sys.executable, "-c", "import ddc_tf"], max(1, args.repeats // 2))]
    for row in rows:
        print(f"{row['median_s']:7.3f} s  (max {row['max_s']:.3f})  exit {row['exit']}  {row['command']}")
    RESULTS.write_text(json.dumps({"repeats": args.repeats, "rows": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
