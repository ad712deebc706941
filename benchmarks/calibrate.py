"""Re-check the calibrated design choices on the validation split, at equal training compute.

Each try trains one design from seed 42 on the 54,000-image training split for the same
training FLOPs (``--tflop``, default one epoch of the modified design at batch 32) and reports
its best validation MSE on the 6,000 validation images. The test set is not loaded for scoring.

    python benchmarks/calibrate.py [--tflop 10] [--out benchmarks/results/calibration-DATE]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent

TRIES = [
    # name, variant, options
    ("modified, batch 32, 4x4 transposed kernels, Adam 1e-3 (chosen)", "modified", {"batch": 32}),
    ("modified, batch 16", "modified", {"batch": 16}),
    ("modified, batch 64", "modified", {"batch": 64}),
    ("modified, 3x3 transposed kernels", "modified", {"batch": 32, "kernel": 3}),
    ("modified, Adam 2e-3", "modified", {"batch": 32, "lr": 2e-3}),
    ("modified, BatchNormalization momentum 0.9", "modified", {"batch": 32, "momentum": 0.9}),
    ("base, batch 32 (chosen)", "base", {"batch": 32}),
    ("base, batch 16", "base", {"batch": 16}),
    ("modified, batch 16, constant rate + ReduceLROnPlateau", "modified", {"batch": 16}),
    ("modified, batch 16, cosine decay from 1e-3", "modified", {"batch": 16, "schedule": "cosine"}),
    ("modified, batch 16, cosine decay from 2e-3", "modified", {"batch": 16, "schedule": "cosine", "lr": 2e-3}),
    ("modified, batch 16, cosine decay from 1e-3, BatchNormalization momentum 0.9", "modified",
     {"batch": 16, "schedule": "cosine", "momentum": 0.9}),
]


def build(variant: str, options: dict):
    from keras import layers

    from genreport.pipeline.models.builders import build_base, build_modified

    if variant == "base":
        return build_base()
    model = build_modified(32, "relu", "adam", learning_rate=options.get("lr"), transposed_kernel=options.get("kernel", 4))
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization) and "momentum" in options:
            layer.momentum = options["momentum"]
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tflop", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / f"calibration-{date.today()}")
    parser.add_argument("--only", default="", help="comma-separated try numbers (1-based)")
    args = parser.parse_args()
    from genreport.pipeline.training.budget import plan_steps
    from genreport.pipeline.data.fashion_mnist import load_dataset
    from genreport.pipeline.core.environment import pin_threads, reseed
    from genreport.pipeline.training.fit import CosineDecay, fit_autoencoder
    from genreport.pipeline.training.precision import apply_policy, choose_policy

    threads = pin_threads()
    policy = choose_policy("auto")
    data = load_dataset(None, train_limit=None, test_limit=100, val_fraction=0.1, seed=42)
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = {int(i) for i in args.only.split(",") if i} or set(range(1, len(TRIES) + 1))
    rows = []
    for number, (name, variant, options) in enumerate(TRIES, start=1):
        if number not in chosen:
            continue
        reseed(42)
        apply_policy(policy)
        model = build(variant, options)
        plan = plan_steps(model, kind="compute", images=len(data.x_train), batch_size=options["batch"], budget_flops=args.tflop * 1e12)
        started = time.monotonic()
        extra = [CosineDecay(plan.steps)] if options.get("schedule") == "cosine" else []
        outcome = fit_autoencoder(model, data.x_train, data.x_val, plan=plan, batch_size=options["batch"], patience=3, verbose=0,
                                  extra_callbacks=extra)
        row = {"try": number, "name": name, "variant": variant, **options, "steps": outcome.steps_run,
               "epochs": round(outcome.steps_run / plan.steps_per_epoch, 3),
               "best_val_loss": min(outcome.history["val_loss"]), "seconds": round(time.monotonic() - started, 1),
               "gflops_per_second": round(outcome.flops / outcome.seconds / 1e9, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    record = {"tflop": args.tflop, "policy": policy, "threads": threads, "seed": 42, "train_images": len(data.x_train),
              "validation_images": len(data.x_val), "rows": rows}
    (args.out / "calibration.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
