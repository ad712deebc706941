"""eval-only on users' autoencoders: total time, time per model and peak memory, for 1, 2, 4 and 8 models.

Builds eight small autoencoders the way public Keras examples do (Sequential and functional,
pooling, strides, dense, separable and residual), trains each one epoch on a seeded draw of the
training split, saves them as ``NAME.keras``, then runs ``genreport eval-only`` (its own process,
all 10,000 test images, HTML and PDF) on the first 1, 2, 4 and 8 of them, each run timed and its
peak resident memory (VmHWM) read from /proc while it runs. Writes ``results.json`` and the
8-model report into the output folder.

    python benchmarks/eval_models.py --output benchmarks/results/eval-only-8-models-DATE
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import genreport.pipeline  # noqa: F401  (genreport's TensorFlow settings take effect only before TensorFlow starts)

COUNTS = (1, 2, 4, 8)
TRAIN_IMAGES = 10_000


def autoencoders() -> dict[str, object]:
    """Eight autoencoders as tutorials write them, each mapping a 28x28 image to one."""
    import keras
    from keras import layers

    def functional(body, output_activation="sigmoid"):
        inputs = keras.Input((28, 28, 1))
        return keras.Model(inputs, layers.Conv2D(1, 3, padding="same", activation=output_activation)(body(inputs)))

    def pooled(x):
        x = layers.Conv2D(32, 3, activation="relu", padding="same")(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
        x = layers.Conv2D(32, 3, activation="relu", padding="same")(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
        x = layers.Conv2D(32, 3, activation="relu", padding="same")(x)
        x = layers.UpSampling2D(2)(x)
        x = layers.Conv2D(32, 3, activation="relu", padding="same")(x)
        return layers.UpSampling2D(2)(x)

    def residual(x):
        y = layers.Conv2D(16, 3, activation="relu", padding="same")(x)
        z = layers.Conv2D(16, 3, activation="relu", padding="same")(y)
        return layers.Add()([y, z])

    def separable(x):
        x = layers.SeparableConv2D(32, 3, strides=2, activation="relu", padding="same")(x)
        x = layers.BatchNormalization()(x)
        return layers.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same")(x)

    return {
        "keras_denoising": functional(pooled),
        "strided_sequential": keras.Sequential([
            keras.Input((28, 28, 1)), layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2D(1, 3, padding="same", activation="sigmoid")]),
        "dense_64": keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(64, activation="relu"),
                                      layers.Dense(784, activation="sigmoid"), layers.Reshape((28, 28))]),
        "dense_784_deep": keras.Sequential([keras.Input((784,)), layers.Dense(256, activation="relu"), layers.Dense(32, activation="relu"),
                                            layers.Dense(256, activation="relu"), layers.Dense(784, activation="sigmoid")]),
        "residual": functional(residual),
        "separable": functional(separable),
        "dropout_conv": keras.Sequential([keras.Input((28, 28, 1)), layers.GaussianNoise(0.1), layers.Conv2D(16, 3, padding="same", activation="relu"),
                                          layers.Dropout(0.2), layers.Conv2D(1, 3, padding="same", activation="sigmoid")]),
        "tanh_minus1_1": keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(16, 3, strides=2, padding="same", activation="tanh"),
                                           layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="tanh"),
                                           layers.Conv2D(1, 3, padding="same", activation="tanh")]),
    }


def train_and_save(folder: Path, data_dir: Path) -> list[str]:
    """Train every autoencoder one epoch (batch 64) on a seeded draw of training images; their names in order."""
    import keras

    from genreport.pipeline.data.fashion_mnist import load_split, to_unit_float

    images = to_unit_float(load_split(data_dir, "train")[0])
    images = images[np.random.default_rng(0).choice(len(images), TRAIN_IMAGES, replace=False)]
    keras.utils.set_random_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for name, model in autoencoders().items():
        shaped = images.reshape((len(images), *model.input_shape[1:]))
        shaped = shaped * 2.0 - 1.0 if name == "tanh_minus1_1" else shaped
        model.compile(optimizer="adam", loss="mse")
        model.fit(shaped, shaped, batch_size=64, epochs=1, verbose=0)
        model.save(folder / f"{name}.keras")
        names.append(name)
    return names


def timed_peak(command: list[str], log: Path) -> tuple[int, float, int]:
    """Exit code, wall seconds and peak VmHWM (bytes) of ``command`` run in its own process."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    peak, started = 0, time.monotonic()
    with open(log, "w") as handle:
        child = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
        status = Path(f"/proc/{child.pid}/status")
        while child.poll() is None:
            try:
                line = next(l for l in status.read_text().splitlines() if l.startswith("VmHWM:"))
                peak = max(peak, int(line.split()[1]) * 1024)
            except (OSError, StopIteration):
                pass
            time.sleep(0.05)
    return child.returncode, time.monotonic() - started, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    args = parser.parse_args()
    models = args.output / "models"
    names = train_and_save(models, args.data_dir)
    runs = []
    for count in COUNTS:
        out = args.output / f"eval-{count}"
        command = [sys.executable, "-m", "genreport.report.cli", "eval-only", "--preset", "full", "--data-dir", str(args.data_dir),
                   "--output", str(out)]
        for name in names[:count]:
            command += ["--checkpoints", str(models / f"{name}.keras")]
        if "tanh_minus1_1" in names[:count]:
            command += ["--pixel-range", "tanh_minus1_1=-1,1"]
        code, seconds, peak = timed_peak(command, args.output / f"eval-{count}.log")
        stages = json.loads((out / "results" / "run.json").read_text())["stages"] if code == 0 else []
        runs.append({"models": count, "exit_code": code, "seconds": round(seconds, 1), "seconds_per_model": round(seconds / count, 1),
                     "peak_rss_gib": round(peak / (1 << 30), 2), "stages": stages})
        print(json.dumps(runs[-1]), flush=True)
    mean_ssim = {name: v["ssim"]["mean"] for name, v in json.loads((args.output / "eval-8" / "results" / "metrics.json").read_text())["models"].items()}
    from genreport.pipeline.core.environment import machine_facts

    record = {"machine": machine_facts(), "commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
              "train_images": TRAIN_IMAGES,
              "models": names, "runs": runs, "mean_ssim_8": mean_ssim,
              "growth": {"first_model_seconds": runs[0]["seconds"],
                         "each_further_model_seconds": round((runs[-1]["seconds"] - runs[0]["seconds"]) / (COUNTS[-1] - 1), 1)}}
    (args.output / "results.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
