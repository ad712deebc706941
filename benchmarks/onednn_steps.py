"""Training-step and inference seconds of each design with TensorFlow's oneDNN kernels off and on.

Each setting runs in its own process (TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it
starts), pinned to the CPUs the process may use, as genreport pins them. Per design (base, and the
modified design at 32, 64, 128 and 256 units): the median of ``--steps`` training steps on a batch
of 16 real training images (after two untimed steps that trace the function), and the median of
two ``predict`` calls on 256 real test images at scoring's batch size of 512 (after an untimed
call). Writes ``steps.json`` and prints a table.

    python benchmarks/onednn_steps.py --output benchmarks/results/onednn-2026-12-07/steps
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DESIGNS = ("base", "modified-32", "modified-64", "modified-128", "modified-256")
SETTINGS = ("0", "1")


def time_designs(steps: int) -> dict[str, Any]:
    """Seconds per training step and per 256-image inference of each design, in this process."""
    import genreport.pipeline  # noqa: F401  (genreport's TensorFlow settings, before TensorFlow starts)
    from genreport.pipeline.core.environment import onednn_enabled, pin_threads
    from genreport.pipeline.data.fashion_mnist import find_data_dir, load_split, to_unit_float
    from genreport.pipeline.models.builders import build_base, build_modified

    threads = pin_threads()
    folder = find_data_dir()
    train = to_unit_float(load_split(folder, "train")[0][:16])
    test = to_unit_float(load_split(folder, "test")[0][:256])
    results = {}
    for design in DESIGNS:
        model = build_base() if design == "base" else build_modified(units=int(design.split("-")[1]))
        for _ in range(2):
            model.train_on_batch(train, train)
        train_seconds = []
        for _ in range(steps):
            start = time.perf_counter()
            model.train_on_batch(train, train)
            train_seconds.append(time.perf_counter() - start)
        model.predict(test[:16], batch_size=512, verbose=0)
        predict_seconds = []
        for _ in range(2):
            start = time.perf_counter()
            model.predict(test, batch_size=512, verbose=0)
            predict_seconds.append(time.perf_counter() - start)
        results[design] = {"train_step_ms": round(1000 * statistics.median(train_seconds), 1),
                           "predict_256_ms": round(1000 * statistics.median(predict_seconds), 1)}
        print(design, results[design], file=sys.stderr, flush=True)
    return {"onednn": onednn_enabled(), "threads": threads, "numpy": np.__version__, "designs": results}


def time_setting(setting: str, steps: int) -> dict[str, Any]:
    """``time_designs`` in a fresh process with ``TF_ENABLE_ONEDNN_OPTS=setting``."""
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=setting, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, __file__, "--child", "--steps", str(steps)], env=env,
                          check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout)


def table(by_setting: dict[str, Any]) -> str:
    """Markdown rows: each design's step and inference time with oneDNN off and on, and the ratios."""
    rows = ["| design | train step off | on | off/on | predict 256 off | on | off/on |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    off, on = by_setting["0"]["designs"], by_setting["1"]["designs"]
    for design in DESIGNS:
        a, b = off[design], on[design]
        rows.append(f"| {design} | {a['train_step_ms']} ms | {b['train_step_ms']} ms | "
                    f"{a['train_step_ms'] / b['train_step_ms']:.2f} | {a['predict_256_ms']} ms | "
                    f"{b['predict_256_ms']} ms | {a['predict_256_ms'] / b['predict_256_ms']:.2f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(time_designs(args.steps)))
        return
    if args.output is None:
        parser.error("--output is required")
    by_setting = {setting: time_setting(setting, args.steps) for setting in SETTINGS}
    from genreport.pipeline.core.environment import machine_facts

    machine = {k: v for k, v in machine_facts().items() if k != "onednn"}  # each setting's own is in its entry
    record = {"machine": machine, "steps": args.steps, "by_TF_ENABLE_ONEDNN_OPTS": by_setting}
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "steps.json").write_text(json.dumps(record, indent=2) + "\n")
    print(table(by_setting))


if __name__ == "__main__":
    main()
