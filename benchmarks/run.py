"""Measure genreport: stage wall times, training throughput, scoring, rendering, peak memory.

Runs `genreport full` once per precision (float32 and the mixed policy `auto` picks here, or
the ones named), then `eval-only` on the whole test set and `render`, each in a subprocess so
its peak RSS is its own. Writes benchmarks/out/<preset>.json and a Markdown table beside it.

    python benchmarks/run.py [--preset quick] [--precisions float32,bfloat16]
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
        child = subprocess.Popen([sys.executable, "-m", "report.cli", *args], stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
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


def measure_precision(preset: str, precision: str, out_root: Path) -> dict:
    out = out_root / f"{preset}-{precision}"
    full = run_measured(["full", "--preset", preset, "--precision", precision, "--output", str(out), "--fresh"], out_root / f"{preset}-{precision}-full.log")
    run = json.loads((out / "results" / "run.json").read_text())
    metrics = json.loads((out / "results" / "metrics.json").read_text())
    evaluated = run_measured(["eval-only", "--checkpoints", str(out / "checkpoints"), "--preset", "full", "--output", str(out / "eval"), "--format", "html"], out_root / f"{preset}-{precision}-eval.log")
    rendered = run_measured(["render", "--results", str(out / "results"), "--output", str(out / "render")], out_root / f"{preset}-{precision}-render.log")
    eval_metrics = json.loads((out / "eval" / "results" / "metrics.json").read_text())
    return {
        "precision": precision,
        "policy": run["policy"],
        "full": full,
        "stages": {s["name"]: s["seconds"] for s in run["stages"]},
        "throughput": {v: m.get("training", {}).get("images_per_second") for v, m in run["models"].items()},
        "epochs": {v: m.get("training", {}).get("epochs_run") for v, m in run["models"].items()},
        "mean_ssim": {v: round(m["ssim"]["mean"], 4) for v, m in metrics["variants"].items()},
        "test_images": metrics["test_images"],
        "eval_only_full_test_set": dict(evaluated, mean_ssim={v: round(m["ssim"]["mean"], 4) for v, m in eval_metrics["variants"].items()}),
        "render": rendered,
        "tuned_hyperparameters": run["tuning"]["best"] if run.get("tuning") else None,
    }


def markdown(report: dict) -> str:
    rows = ["| measure | " + " | ".join(r["policy"] for r in report["runs"]) + " |", "| --- |" + " --- |" * len(report["runs"])]

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
    for variant in runs[0]["mean_ssim"]:
        row(f"mean SSIM, {variant} ({runs[0]['test_images']} test images)", [r["mean_ssim"][variant] for r in runs])
    row("`eval-only`, 10,000 test images (s)", [r["eval_only_full_test_set"]["seconds"] for r in runs])
    row("`eval-only` peak RSS (MiB)", [r["eval_only_full_test_set"]["peak_rss_mib"] for r in runs])
    row("`render` html+pdf (s)", [r["render"]["seconds"] for r in runs])
    head = f"Preset `{report['preset']}` on {report['machine']['cpu']} ({report['machine']['cores']} cores), {report['date']}.\n\n"
    return head + "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="quick", choices=["smoke", "quick", "full"])
    parser.add_argument("--precisions", default="float32,auto", help="comma-separated --precision values to compare")
    args = parser.parse_args()
    out_root = ROOT / "benchmarks" / "out"
    out_root.mkdir(parents=True, exist_ok=True)
    runs = [measure_precision(args.preset, p.strip(), out_root) for p in args.precisions.split(",") if p.strip()]
    report = {
        "preset": args.preset,
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "runs": runs,
    }
    (out_root / f"{args.preset}.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (out_root / f"{args.preset}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
