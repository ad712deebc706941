"""Measure genreport: stage wall times, training throughput, scoring, rendering, peak memory.

Three modes:

- ``--mode precision`` (default): the original benchmark below.
- ``--mode determinism``: the same command and seed twice, the second time beside a CPU-bound
  busy loop; writes the largest per-image SSIM difference (the target is at most 1e-6).
- ``--mode replicates``: ``full --seeds`` (default 42,7,1) at the preset, then a ``render`` that
  merges the three seed folders; writes the across-seed standard deviation per variant, whether
  each pairwise ordering held in every seed, and the merge-and-render time.

Runs `genreport full` once per precision (float32 and the mixed policy `auto` picks here, or
the ones named) and seed, then `eval-only` on the whole test set and `render`, each in a
subprocess so its peak RSS is its own. Writes benchmarks/out/<preset>.json and a Markdown table
beside it, with the SSIM change from mixed precision on the same seed and, where more than one
seed ran, the spread between seeds at one precision (the noise that change is measured against).

    python benchmarks/run.py [--preset quick] [--precisions float32,bfloat16] [--seeds 42,7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_measured(args: list[str], log: Path) -> dict:
    """Run a genreport command in a child process: wall seconds, peak RSS (MiB), exit code."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    started = time.monotonic()
    with open(log, "w") as handle:
        child = subprocess.Popen([sys.executable, "-m", "genreport.report.cli", *args], stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(args)} failed with exit {code}; see {log}")
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def measure_precision(preset: str, precision: str, seed: int, out_root: Path) -> dict:
    name = f"{preset}-{precision}-s{seed}"
    out = out_root / name
    full = run_measured(["full", "--preset", preset, "--precision", precision, "--seed", str(seed), "--output", str(out), "--fresh"], out_root / f"{name}-full.log")
    run = json.loads((out / "results" / "run.json").read_text())
    metrics = json.loads((out / "results" / "metrics.json").read_text())
    evaluated = run_measured(["eval-only", "--checkpoints", str(out / "checkpoints"), "--preset", "full", "--output", str(out / "eval"), "--format", "html"], out_root / f"{name}-eval.log")
    rendered = run_measured(["render", "--results", str(out / "results"), "--output", str(out / "render")], out_root / f"{name}-render.log")
    eval_metrics = json.loads((out / "eval" / "results" / "metrics.json").read_text())
    return {
        "precision": precision,
        "seed": seed,
        "policy": run["policy"],
        "variant_policies": {v: m.get("policy") for v, m in run["models"].items()},
        "full": full,
        "stages": {s["name"]: s["seconds"] for s in run["stages"]},
        "throughput": {v: m.get("training", {}).get("images_per_second") for v, m in run["models"].items()},
        "epochs": {v: m.get("training", {}).get("epochs_run") for v, m in run["models"].items()},
        "mean_ssim": {v: round(m["ssim"]["mean"], 4) for v, m in metrics["models"].items()},
        "test_images": metrics["test_images"],
        "eval_only_full_test_set": dict(evaluated, mean_ssim={v: round(m["ssim"]["mean"], 4) for v, m in eval_metrics["models"].items()}),
        "render": rendered,
        "tuned_hyperparameters": run["tuning"]["best"] if run.get("tuning") else None,
    }


def precision_effects(runs: list[dict]) -> list[dict]:
    """Per seed and variant: mean SSIM of each non-float32 run minus the float32 run's."""
    effects = []
    for run in runs:
        reference = next((r for r in runs if r["seed"] == run["seed"] and r["precision"] == "float32"), None)
        if reference is None or run is reference:
            continue
        for variant, value in run["mean_ssim"].items():
            effects.append({"seed": run["seed"], "policy": run["policy"], "variant": variant,
                            "change": round(value - reference["mean_ssim"][variant], 4)})
    return effects


def seed_spreads(runs: list[dict]) -> list[dict]:
    """Per precision and variant: largest minus smallest mean SSIM over the seeds."""
    spreads = []
    for precision in dict.fromkeys(r["precision"] for r in runs):
        same = [r for r in runs if r["precision"] == precision]
        if len(same) < 2:
            continue
        for variant in same[0]["mean_ssim"]:
            values = [r["mean_ssim"][variant] for r in same]
            spreads.append({"policy": same[0]["policy"], "variant": variant, "spread": round(max(values) - min(values), 4)})
    return spreads


def markdown(report: dict) -> str:
    rows = ["| measure | " + " | ".join(f"{r['policy']}, seed {r['seed']}" for r in report["runs"]) + " |", "| --- |" + " --- |" * len(report["runs"])]

    def row(name: str, values: list) -> None:
        rows.append(f"| {name} | " + " | ".join(str(v) for v in values) + " |")

    runs = report["runs"]
    row("`full` wall time (s)", [r["full"]["seconds"] for r in runs])
    row("`full` peak RSS (MiB)", [r["full"]["peak_rss_mib"] for r in runs])
    for stage in runs[0]["stages"]:
        row(f"stage: {stage} (s)", [r["stages"].get(stage, "–") for r in runs])
    for variant in runs[0]["throughput"]:
        row(f"training throughput, {variant} (images/s)", [r["throughput"][variant] for r in runs])
        row(f"epochs run, {variant}", [r["epochs"][variant] for r in runs])
    for variant in runs[0]["variant_policies"]:
        row(f"precision, {variant}", [r["variant_policies"][variant] for r in runs])
    for variant in runs[0]["mean_ssim"]:
        row(f"mean SSIM, {variant} ({runs[0]['test_images']} test images)", [r["mean_ssim"][variant] for r in runs])
    row("`eval-only`, 10,000 test images (s)", [r["eval_only_full_test_set"]["seconds"] for r in runs])
    row("`eval-only` peak RSS (MiB)", [r["eval_only_full_test_set"]["peak_rss_mib"] for r in runs])
    row("`render` html+pdf (s)", [r["render"]["seconds"] for r in runs])
    head = f"Preset `{report['preset']}` on {report['machine']['cpu']} ({report['machine']['cores']} cores), {report['date']}.\n\n"
    text = head + "\n".join(rows) + "\n"
    if report["precision_effects"]:
        text += "\nSSIM change from mixed precision, same seed (mixed minus float32):\n\n| seed | policy | variant | change |\n| --- | --- | --- | --- |\n"
        text += "".join(f"| {e['seed']} | {e['policy']} | {e['variant']} | {e['change']:+.4f} |\n" for e in report["precision_effects"])
    if report["seed_spreads"]:
        text += "\nSpread between seeds at one precision (largest minus smallest mean SSIM):\n\n| policy | variant | spread |\n| --- | --- | --- |\n"
        text += "".join(f"| {s['policy']} | {s['variant']} | {s['spread']:.4f} |\n" for s in report["seed_spreads"])
    return text


def largest_ssim_difference(first: Path, second: Path) -> tuple[float, int]:
    """The largest absolute difference between two per_image.csv files' SSIM columns, and the rows compared."""
    import csv

    def rows(path: Path) -> list[dict]:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle))

    a, b = rows(first), rows(second)
    if len(a) != len(b):
        raise SystemExit(f"{first} and {second} hold different numbers of rows")
    columns = [c for c in a[0] if c.startswith("ssim")]
    return max(abs(float(x[c]) - float(y[c])) for x, y in zip(a, b) for c in columns), len(a)


def measure_determinism(preset: str, seed: int, out_root: Path) -> dict:
    """The same run twice, the second beside a busy loop: identical SSIM expected."""
    common = ["full", "--preset", preset, "--seed", str(seed), "--format", "html", "--fresh"]
    quiet = run_measured([*common, "--output", str(out_root / "det-quiet")], out_root / "det-quiet.log")
    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 7200\nwhile time.time() < end: pass"])
    try:
        loaded = run_measured([*common, "--output", str(out_root / "det-busy")], out_root / "det-busy.log")
    finally:
        busy.kill()
        busy.wait()
    difference, rows = largest_ssim_difference(out_root / "det-quiet" / "results" / "per_image.csv", out_root / "det-busy" / "results" / "per_image.csv")
    identical = (out_root / "det-quiet" / "results" / "per_image.csv").read_bytes() == (out_root / "det-busy" / "results" / "per_image.csv").read_bytes()
    return {"mode": "determinism", "preset": preset, "seed": seed, "quiet": quiet, "beside_busy_loop": loaded,
            "images": rows, "largest_ssim_difference": difference, "per_image_csv_identical": identical}


def measure_replicates(preset: str, seeds: list[int], out_root: Path) -> dict:
    """``full --seeds`` at the preset, then merging the seed folders with ``render``."""
    out = out_root / f"replicates-{preset}"
    full = run_measured(["full", "--preset", preset, "--seeds", ",".join(map(str, seeds)), "--format", "html", "--fresh", "--output", str(out)],
                        out_root / f"replicates-{preset}.log")
    block = json.loads((out / "results" / "metrics.json").read_text())["replicates"]
    args = ["render", "--output", str(out / "merged-again")]
    for seed in seeds:
        args += ["--results", str(out / f"seed-{seed}" / "results")]
    merged = run_measured(args, out_root / f"replicates-{preset}-render.log")
    again = json.loads((out / "merged-again" / "results" / "metrics.json").read_text())["replicates"]
    variants = {v: {"per_seed": {s: round(m, 4) for s, m in f["ssim"]["per_seed"].items()}, "mean": round(f["ssim"]["mean"], 4),
                    "std": round(f["ssim"]["std"], 4), "ci95": [round(x, 4) for x in f["ssim"]["ci95"]],
                    "gaussian_mean": round(f["ssim_gaussian"]["mean"], 4), "gaussian_std": round(f["ssim_gaussian"]["std"], 4)}
                for v, f in block["models"].items()}
    comparisons = [{"comparison": f"{c['second']} - {c['first']}", "mean_difference": round(c["mean_difference"], 4),
                    "ci95": [round(c["ci_low"], 4), round(c["ci_high"], 4)], "same_order": f"{c['seeds_same_order']} of {c['seeds']}",
                    "held_in_every_seed": c["seeds_same_order"] == c["seeds"], "verdict": c["verdict"]} for c in block["comparisons"]]
    return {"mode": "replicates", "preset": preset, "seeds": seeds, "full": full, "variants": variants, "comparisons": comparisons,
            "tuning": block.get("tuning"), "merge_and_render": merged,
            "render_merge_equals_run": again["models"] == block["models"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="precision", choices=["precision", "determinism", "replicates"])
    parser.add_argument("--preset", default="quick", choices=["smoke", "quick", "full"])
    parser.add_argument("--precisions", default="float32,auto", help="comma-separated --precision values to compare")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds [precision: 42; determinism: its first; replicates: 42,7,1]")
    args = parser.parse_args()
    out_root = ROOT / "benchmarks" / "out"
    out_root.mkdir(parents=True, exist_ok=True)
    if args.mode != "precision":
        seeds = [int(s) for s in (args.seeds or "42,7,1").split(",") if s.strip()]
        machine = {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()}
        if args.mode == "determinism":
            report = measure_determinism(args.preset, seeds[0], out_root)
        else:
            report = measure_replicates(args.preset, seeds, out_root)
        report.update(date=time.strftime("%Y-%m-%d"), machine=machine)
        path = out_root / f"{args.mode}-{args.preset}.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
        return
    args.seeds = args.seeds or "42"
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    runs = [measure_precision(args.preset, p, seed, out_root) for seed in seeds for p in precisions]
    report = {
        "preset": args.preset,
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "runs": runs,
        "precision_effects": precision_effects(runs),
        "seed_spreads": seed_spreads(runs),
    }
    (out_root / f"{args.preset}.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (out_root / f"{args.preset}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
