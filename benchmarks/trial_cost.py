"""A search trial's fixed cost: the seconds a trial takes beyond the work it does.

Runs only the search stage of a preset (its tuning subset, its trial budgets, the run's seed and
precision; no variant is trained), or reads a ``trials.csv`` a run wrote, and fits every trial's
wall seconds against its work by least squares:

    seconds = fixed + (training FLOPs + validation FLOPs) / rate[units]

with one ``rate`` per width (a 32-unit design runs at a lower FLOP rate than a 256-unit one).
``fixed`` is the trial's fixed cost (build, compile, tracing, KerasTuner's files, callbacks). Where
no width ran trials of two sizes (the smoke preset: one step each) the fit cannot separate the two,
and the median seconds of the trials with the least work (the 32-unit ones in the smoke preset)
bound the fixed cost from above. Validation FLOPs are ``validation images x forward FLOPs``
per validation (one per epoch run), from the design's layer shapes when the file has no column
for them. With ``--reference`` it also compares each trial's validation loss with another
``trials.csv`` of the same preset and seed: the largest change, and whether the ranking and the
chosen configuration are the same.

    python benchmarks/trial_cost.py --preset smoke --output benchmarks/out/trial-cost-smoke
    python benchmarks/trial_cost.py --trials OLD/trials.csv --preset smoke --output DIR [--validation-images 100]
    python benchmarks/trial_cost.py --preset full --reference OLD/trials.csv --output DIR
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def run_search_stage(preset: str, output: Path) -> tuple[Path, dict]:
    """The preset's search alone, in ``output/run``; the path of its trials.csv and the stage's seconds."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from genreport.pipeline.core.environment import pin_threads

    threads = pin_threads()
    from genreport.pipeline.core.config import resolve_config
    from genreport.pipeline.results.store import trials_csv
    from genreport.pipeline.runs.search_stage import configured_search
    from genreport.pipeline.runs.stages import load_data

    run = output / "run"
    if run.exists():  # never removed here: it may hold another measurement
        raise SystemExit(f"{run} exists; give another --output (the search runs afresh in OUTPUT/run)")
    config = resolve_config(preset, {"output": run})
    data = load_data(config)
    lines: list[str] = []
    started = time.monotonic()
    result = configured_search(config, data, lambda event: lines.append(event) if isinstance(event, str) else None)
    seconds = time.monotonic() - started
    path = output / "trials.csv"
    path.write_text(trials_csv(result.trials))
    (output / "search.log").write_text("\n".join(lines) + "\n")
    return path, {"search_seconds": round(seconds, 1), "threads": threads, "best": result.best,
                  "validation_images": result.settings["validation_images"]}


def validation_images(trials_csv: Path, preset: str, given: int | None) -> int:
    """Validation images of each trial, for files without a ``val_flops`` column: as given, else
    from the ``run.json`` beside the file, else the preset's current value (smoke used 100 before
    2026-12-02: pass ``--validation-images 100`` for its older records)."""
    if given is not None:
        return given
    run = trials_csv.with_name("run.json")
    if run.is_file():
        settings = json.loads(run.read_text()).get("tuning", {}).get("settings", {})
        if "validation_images" in settings:
            return int(settings["validation_images"])
    from genreport.pipeline.core.config import PRESETS

    return PRESETS[preset].tune_val_limit


def forward_flops_by_units() -> dict[int, int]:
    """Forward FLOPs of one image through the modified design, per width (the activation does not matter)."""
    from genreport.pipeline.training.budget import forward_flops
    from genreport.pipeline.models.builders import UNITS, build_modified

    return {units: forward_flops(build_modified(units)) for units in UNITS}


def read_trials(path: Path, images: int) -> list[dict]:
    """The completed trials of a trials.csv with their work; validation work from the design where not recorded."""
    with open(path, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["status"] == "COMPLETED" and r["seconds"]]
    forward = forward_flops_by_units() if any(not r.get("val_flops") for r in rows) else {}
    trials = []
    for r in rows:
        validations = max(1, int(np.ceil(float(r["epochs"]) - 1e-9)))
        val = float(r["val_flops"]) if r.get("val_flops") else images * forward[int(r["units"])] * validations
        trials.append({"key": (r["activation"], int(r["units"]), r["optimizer"], int(r["rung"])), "rank": int(r["rank"]),
                       "seconds": float(r["seconds"]), "train_flops": float(r["flops"]), "val_flops": val,
                       "val_loss": float(r["val_loss"]), "steps": int(r["steps"])})
    return trials


def fixed_cost(trials: list[dict]) -> dict:
    """Least-squares fit of seconds on work with a rate per width: the intercept is the fixed seconds a trial costs."""
    widths = sorted({t["key"][1] for t in trials})
    work = np.array([t["train_flops"] + t["val_flops"] for t in trials])
    seconds = np.array([t["seconds"] for t in trials])
    design = np.column_stack([np.ones_like(work)] + [work * np.array([t["key"][1] == w for t in trials]) for w in widths])
    coefficients, _, rank, _ = np.linalg.lstsq(design, seconds, rcond=None)
    residual = seconds - design @ coefficients
    cheapest = [t for t in trials if t["train_flops"] + t["val_flops"] == work.min()]
    return {"trials": len(trials),
            # Identifiable only where some width ran trials of different sizes (the smoke preset's do not).
            "fixed_seconds": round(float(coefficients[0]), 3) if rank == design.shape[1] else None,
            "cheapest_trials": {"count": len(cheapest), "work_gflop": round(float(work.min()) / 1e9, 2),
                                "median_seconds": round(float(np.median([t["seconds"] for t in cheapest])), 3)},
            "gflops_per_second_by_units": {str(w): round(1 / c / 1e9, 1) if c > 0 else None for w, c in zip(widths, coefficients[1:])},
            "residual_sd_seconds": round(float(residual.std(ddof=len(coefficients))), 3), "total_seconds": round(float(seconds.sum()), 1),
            "total_work_tflop": round(float(work.sum()) / 1e12, 2),
            "median_seconds_by_units": {str(w): round(float(np.median([t["seconds"] for t in trials if t["key"][1] == w])), 2) for w in widths}}


def compare(trials: list[dict], reference: list[dict]) -> dict:
    """Largest change in a trial's validation loss against the reference, and whether rankings and choice agree."""
    mine = {t["key"]: t for t in trials}
    theirs = {t["key"]: t for t in reference}
    shared = sorted(set(mine) & set(theirs))
    changes = [abs(mine[k]["val_loss"] - theirs[k]["val_loss"]) for k in shared]
    order = lambda rows: [t["key"] for t in sorted(rows, key=lambda t: t["rank"])]  # noqa: E731
    return {"shared_trials": len(shared), "only_here": len(set(mine) - set(theirs)), "only_in_reference": len(set(theirs) - set(mine)),
            "largest_val_loss_change": float(max(changes)) if changes else None, "trials_changed": int(sum(c > 0 for c in changes)),
            "same_steps": all(mine[k]["steps"] == theirs[k]["steps"] for k in shared),
            "same_ranking": order(trials) == order(reference), "same_choice": order(trials)[:1] == order(reference)[:1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="smoke", choices=("smoke", "quick", "full"))
    parser.add_argument("--trials", type=Path, help="analyse this trials.csv instead of running the search")
    parser.add_argument("--reference", type=Path, help="a trials.csv of the same preset and seed to compare losses with")
    parser.add_argument("--validation-images", type=int, help="validation images of each trial, for a trials.csv without val_flops")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    record: dict = {"preset": args.preset, "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                                      "python": platform.python_version()}}
    try:
        record["machine"]["cpu"] = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                                        if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if args.trials:
        path = args.trials
        record["source"] = str(path)
    else:
        path, stage = run_search_stage(args.preset, args.output)
        record.update(stage)
    trials = read_trials(path, validation_images(path, args.preset, args.validation_images))
    record["fit"] = fixed_cost(trials)
    if args.reference:
        record["reference"] = str(args.reference)
        record["comparison"] = compare(trials, read_trials(args.reference, validation_images(args.reference, args.preset, args.validation_images)))
    (args.output / "trial_cost.json").write_text(json.dumps(record, indent=2) + "\n")
    json.dump(record, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
