"""Scoring and Model & data at the scale of a big book (target: `score` <= 30 s for 100,000
accounts on 2 cores; Model & data first paint <= 2 s).

Works on a copy of an existing scored data dir (e.g. 100,000 generated customers with a
production churn model), never on the original; without --data, on a demo install built in a
temp folder (5,000 customers: a smoke run, not the target's scale). Prints:
* `python -m engine score` run as a scheduler runs it (its own process: the writer's snapshot
  copy and publish included), wall and CPU seconds, and its phases (features, contributions
  with the probabilities, drivers, write, drift, quality). The first run after a new model
  version also builds that version's drift reference and quality once; `--runs 2` shows a steady run;
* the Model & data page rendered by Streamlit's AppTest as an analyst (server time, first
  visit and again), and the engine read it makes for drift.

The browser's side of the pages (Customer 360, the overview after login, Model & data's
first paint in headless Chromium) is bench/browser_speed.py.

Run: `PYTHONPATH=. .venv/bin/python bench/scale.py [--data /path/to/wh100k] [--runs 2]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


SCORE_TARGET_SECONDS = 30


def score_once(data: Path, label: str) -> None:
    load = os.getloadavg()[0]
    cpu0, t0 = _cpu_children(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "engine", "--data-dir", str(data), "score", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    wall, cpu = time.perf_counter() - t0, _cpu_children() - cpu0
    report = json.loads(done.stdout)
    phases = report.get("phases", {})
    scoring = sum(v for k, v in phases.items() if k not in ("drift", "quality"))
    verdict = "within" if wall <= SCORE_TARGET_SECONDS else "OVER"
    print(
        f"score, {label}: {report['customers']:,} accounts as of {report['as_of']} by {report['model_version']}: "
        f"command {wall:.1f} s wall ({verdict} the {SCORE_TARGET_SECONDS} s target), {cpu:.1f} s CPU on "
        f"{os.cpu_count()} cores, load average {load:.1f} before; inside score() {report['seconds']:.1f} s "
        f"(scoring {scoring:.1f} s + monitoring {phases.get('drift', 0) + phases.get('quality', 0):.1f} s)"
    )
    print("  phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()))


def page(data: Path, repeat: int) -> None:
    from streamlit.testing.v1 import AppTest

    from components.shared.auth import TEST_VIEWERS, log_in
    from engine.churn import monitoring, registry
    from engine.data import warehouse

    entry = registry.production("churn", data)
    assert entry is not None, "the data dir has no production churn model"
    t0 = time.perf_counter()
    kept = monitoring.stored_drift(warehouse.get_warehouse(data, read_only=True), data, entry.version)
    print(
        f"engine: stored drift read in {(time.perf_counter() - t0) * 1000:.0f} ms "
        f"({'none kept' if kept is None else kept.note + (' STALE' if kept.stale else '')})"
    )
    warehouse.close_all()
    os.environ["RADAR_DATA_DIR"] = str(data)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    log_in(at.session_state, TEST_VIEWERS["analyst"])
    at.run()
    at.switch_page("views/model_data.py")
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    assert not at.exception, at.exception
    again = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        at.run()
        again.append(time.perf_counter() - t0)
    print(
        f"Model & data page (analyst): first visit {first:.2f} s server time (target <= 2 s), "
        f"again {min(again):.2f} s best of {repeat}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, help="a scored data dir (copied, never changed); default: a demo")
    parser.add_argument("--runs", type=int, default=2, help="scoring runs (the first may build references)")
    parser.add_argument("--repeat", type=int, default=3, help="page renders after the first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.data.parent if args.data else None) as tmp:
        data = Path(tmp) / "data"
        t0 = time.perf_counter()
        if args.data is None:
            from bench import load

            load.build_demo(data)
            print(f"built a demo install in {time.perf_counter() - t0:.0f} s (a smoke run: the target is 100,000)")
        else:
            shutil.copytree(args.data, data, symlinks=True)
            print(f"copied {args.data} in {time.perf_counter() - t0:.0f} s")
        for run in range(args.runs):
            score_once(data, "first run" if run == 0 else f"run {run + 1} (steady)")
        page(data, args.repeat)


if __name__ == "__main__":
    main()
