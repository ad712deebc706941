"""The precision a run trains in: bfloat16 where the CPU (or a GPU) does it natively, float32 otherwise; the device strategy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from genreport.pipeline.core.errors import ConfigError


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set[str]:
    """The CPU feature flags Linux reports (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def visible_gpus() -> list[Any]:
    """The GPUs TensorFlow can see."""
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def distribution_strategy() -> Any:
    """MirroredStrategy over every local GPU when there are two or more, else None."""
    gpus = visible_gpus()
    if len(gpus) < 2:
        return None
    import tensorflow as tf

    return tf.distribute.MirroredStrategy()


def choose_policy(precision: str) -> str:
    """The Keras dtype policy for a --precision value.

    ``auto`` takes a mixed policy only where the hardware computes it fast: bfloat16 on a GPU
    of compute capability 8 or more, float16 on older GPUs, bfloat16 on a CPU with AVX-512 BF16
    or AMX, and float32 everywhere else.
    """
    explicit = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
    if precision in explicit:
        return explicit[precision]
    if precision != "auto":
        raise ConfigError(f"unknown precision {precision!r}")
    gpus = visible_gpus()
    if gpus:
        import tensorflow as tf

        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
        return "mixed_bfloat16" if capability and capability[0] >= 8 else "mixed_float16"
    if cpu_flags() & set(BF16_CPU_FLAGS):
        return "mixed_bfloat16"
    return "float32"


def apply_policy(policy: str) -> None:
    """Make ``policy`` the global dtype policy for the models built after this call."""
    keras.mixed_precision.set_dtype_policy(policy)
