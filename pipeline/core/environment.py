"""Facts about the software and machine a run used, for the reproducibility record."""

from __future__ import annotations

import contextlib
import gc
import platform
import random
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

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


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process (they round differently from
    its own), or None where TensorFlow is not loaded or does not say."""
    if "tensorflow" not in sys.modules:
        return None
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def current_kernels() -> dict[str, Any]:
    """This process's TensorFlow thread count and whether its oneDNN kernels are on: what decides
    how its sums round. Call once TensorFlow is loaded and its threads are pinned."""
    import tensorflow as tf

    return {"threads": tf.config.threading.get_intra_op_parallelism_threads() or thread_count(), "onednn": onednn_enabled()}


def recorded_kernels(record: Any) -> dict[str, Any]:
    """The thread count (a positive int), oneDNN state (a bool) and whether parts ran under other
    kernels (``mixed``, true only when recorded as true) a saved record holds; anything else,
    hand-edited or missing, as None."""
    record = record if isinstance(record, dict) else {}
    threads, onednn = record.get("threads"), record.get("onednn")
    return {"threads": threads if type(threads) is int and threads >= 1 else None,
            "onednn": onednn if isinstance(onednn, bool) else None,
            "mixed": record.get("mixed") is True}


def kernels_note(what: str, recorded: Any, current: dict[str, Any]) -> str | None:
    """One line saying that ``what`` was computed under other kernels than ``current``, or None
    where they are the same or were not recorded.

    Reusing it is not refused: its numbers are as valid, but they round differently, so the run's
    figures will not match an uninterrupted run's to the last digit.
    """
    saved = recorded_kernels(recorded)
    consequence = "it is reused, and the figures will differ from an uninterrupted run's in the last digits"
    if saved["mixed"]:
        return f"note: {what} was computed partly under other kernels (it was resumed after a change of threads or oneDNN): {consequence}"
    then, now = [], []
    if saved["threads"] is not None and saved["threads"] != current["threads"]:
        then.append(_threads_words(saved["threads"]))
        now.append(_threads_words(current["threads"]))
    if saved["onednn"] is not None and current["onednn"] is not None and saved["onednn"] != current["onednn"]:
        then.append(f"oneDNN {'on' if saved['onednn'] else 'off'}")
        now.append(f"oneDNN {'on' if current['onednn'] else 'off'}")
    if not then:
        return None
    return f"note: {what} was computed with {' and '.join(then)}, this process has {' and '.join(now)}: {consequence}"


def _threads_words(count: int) -> str:
    return f"{count} thread{'' if count == 1 else 's'}"


def machine_facts() -> dict[str, Any]:
    """CPU, core count, OS, the GPUs TensorFlow sees and whether its oneDNN CPU kernels are on."""
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
        "onednn": onednn_enabled(),
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


def thread_count() -> int:
    """The CPUs this process may run on (its affinity), not the machine's total."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def pin_threads(threads: int | None = None) -> int:
    """Fix TensorFlow's thread pools before its first op; return the count used.

    oneDNN repeats its results only on the same CPU with the same thread count, so the count is
    set from the CPUs this process may use, never from how busy the machine is.
    """
    import tensorflow as tf

    count = threads or thread_count()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(count)
        tf.config.threading.set_inter_op_parallelism_threads(count)
    except RuntimeError:  # already initialised in this process (tests run several runs in one)
        count = tf.config.threading.get_intra_op_parallelism_threads() or count
    return count


def reseed(seed: int) -> None:
    """A fresh Keras session seeded with ``seed``: before each variant and before the search, so
    a resumed run that reuses earlier variants gives the later ones the same weights."""
    import keras

    keras.backend.clear_session()
    seed_everything(seed)


def code_revision() -> str | None:
    """The git commit of the checkout genreport runs from (with '+changes' when it differs), else None."""
    import subprocess

    root = Path(__file__).resolve().parents[2]  # pipeline/core/environment.py: the checkout is two folders up
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode != 0:
        return None
    return commit.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def genreport_record() -> dict[str, Any]:
    """genreport's version and, from a git checkout, its commit."""
    from genreport.pipeline import __version__

    return {"version": __version__, "commit": code_revision()}


def peak_memory_gib() -> float | None:
    """This process's peak resident memory so far (``VmHWM``), in GiB; None where it cannot be read."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 2**20, 3)
    except (OSError, ValueError, IndexError):
        pass
    return None


def release_free_memory() -> None:
    """Hand freed heap memory back to the system (glibc's ``malloc_trim``); nothing where there is no glibc.

    TensorFlow frees a trial's or a training's buffers, but the C allocator keeps them mapped;
    between trials of different sizes that kept memory adds up to gigabytes.
    """
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def collections_skip_older_objects() -> Iterator[None]:
    """Inside the block, Python's garbage collections skip the objects alive when it began (``gc.freeze``).

    TensorFlow and Keras keep a few hundred thousand objects alive for the whole process, and every
    full collection walked them all: 0.2-0.3 s each, and a search collects before each large design's
    build. What the block creates is collected as before; on leaving, the older objects are
    collectable again. Inside another such block (or a process that froze its own), it does nothing:
    leaving it would unfreeze what the outer one froze.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
