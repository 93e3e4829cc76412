"""Peak memory and wall time of ``sopilot-pipeline process`` on one long gold and trainee.

    python benchmarks/long_video.py --minutes 60 --work /tmp/long60

Renders an N-minute 1280x720 30 fps H.264 video (``ingest.py``'s renderer; kept in
``--work`` and reused), drops it as the gold and a copy as the trainee of one task in a
fresh data root with the embedded SQLite instance, and runs ``process`` as a child
process. Prints ``wall_s``, ``peak_rss_mb`` (the child's maximum resident set, from
``getrusage``), the run's exit status and the trainee's score. Issue 15's goal for
60 minutes: peak RSS at most 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ingest import render_test_video  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--work", type=Path, required=True, help="renders and data roots")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    video = args.work / f"long-{args.minutes:g}min.mp4"
    if not video.exists():
        partial = video.with_suffix(".partial.mp4")
        render_test_video(partial, args.minutes * 60)
        partial.rename(video)
    root = args.work / "data"
    shutil.rmtree(root, ignore_errors=True)
    for role in ("gold", "trainee"):
        (root / "watch" / "long" / role).mkdir(parents=True)
        os.link(video, root / "watch" / "long" / role / f"{role}.mp4")
    env = dict(os.environ, SOPILOT_DATA_DIR=str(root), DAGSTER_HOME=str(root / "dagster"))
    (root / "dagster").mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "dagster.yaml", root / "dagster")
    cli = Path(sys.executable).with_name("sopilot-pipeline")
    t0 = time.perf_counter()
    done = subprocess.run([str(cli), "process"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
    score = None
    try:
        import polars as pl

        scores = pl.read_parquet(root / "tables" / "scores" / "**" / "*.parquet")
        score = scores["score"].to_list()
    except Exception as exc:  # noqa: BLE001 - reported, not fatal to the figure
        score = f"no scores table: {exc}"
    print(
        json.dumps(
            {
                "minutes": args.minutes,
                "rc": done.returncode,
                "wall_s": round(wall, 1),
                "peak_rss_mb": round(peak_mb),
                "score": score,
            }
        )
    )
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
