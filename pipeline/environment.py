"""Facts about the software and machine a run used, for the reproducibility record."""

from __future__ import annotations

import platform
import random
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

PACKAGES = ("tensorflow", "keras", "keras-tuner", "scikit-image", "numpy", "scipy")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (\"absent\" for those not installed), and Python's."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def cpu_model() -> str:
    """The CPU's model name as Linux reports it, else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts() -> dict[str, Any]:
    """CPU, core count, OS and the GPUs TensorFlow sees."""
    import os

    gpus: list[str] = []
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        gpus = [
            tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")
        ]
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "gpus": gpus,
    }


def now_iso() -> str:
    """The current UTC time, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow/Keras from one number."""
    random.seed(seed)
    np.random.seed(seed)
    import keras

    keras.utils.set_random_seed(seed)
