"""A training's backup after every finished epoch, so a kill loses at most the epoch it interrupts.

Keras' ``BackupAndRestore`` keeps the weights and the optimizer (its step count, moments and
learning rate) but not the state of the other callbacks, so a resumed training would forget its
best epoch, its patience and the steps its budget already spent, and would end with other
weights than an uninterrupted one. ``EpochBackup`` keeps all of it in one folder:

- ``epoch-NNNN.weights.h5``: the model and its optimizer after epoch NNNN (``save_weights``);
- ``best-NNNN.npz``: EarlyStopping's best weights so far (plain arrays, loaded without pickle);
- ``state.json``: finished epochs, steps, history, callbacks' counters, seconds, and the key of
  the settings it was made under; written last, so it only ever names complete files.

A backup made under other settings (its key differs) is discarded, never resumed.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np

from genreport.pipeline.core import claims, ownership
from genreport.pipeline.core.environment import kernels_note, recorded_kernels
from genreport.pipeline.core.errors import ConfigError, GenreportError
from genreport.pipeline.core.fsutil import write_atomically, write_text_atomically

STATE_NAME = "state.json"
BACKUP_PREFIX = ".backup-"


def backup_folder(checkpoints_dir: Path, variant: str) -> Path:
    """Where a variant's training keeps its epoch backup while it runs."""
    return checkpoints_dir / f"{BACKUP_PREFIX}{variant}"


def discard_backup(checkpoints_dir: Path, variant: str) -> None:
    """Remove a variant's backup once its checkpoint and manifest entry are both saved (never a symlink's target)."""
    folder = backup_folder(checkpoints_dir, variant)
    if ownership.owned(folder, "backup"):
        claims.remove_own_folder(folder, "backup", lambda name: bool(ownership.BACKUP_FILE.fullmatch(name)))


def _plain(value: Any) -> float | None:
    """A callback's best value as JSON carries it (None before the first epoch)."""
    return None if value is None else float(value)


def only_one(callbacks: list[keras.callbacks.Callback], kind: type) -> Any:
    """The one callback of ``kind`` in ``callbacks``; a ValueError when there is none or several."""
    found = [c for c in callbacks if isinstance(c, kind)]
    if len(found) != 1:
        raise ValueError(f"a training's callbacks hold {len(found)} {kind.__name__}, not one")
    return found[0]


class EpochBackup(keras.callbacks.Callback):
    """Saves the training after every epoch; ``attach`` restores a matching earlier one."""

    def __init__(self, folder: Path, key: str, progress: Callable[[str], None] = print, label: str = "training",
                 kernels: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.key = key
        self.kernels = kernels  # this process's thread count and oneDNN state, saved with each epoch
        self.mixed = False  # whether earlier epochs ran under other kernels
        self.progress = progress
        self.label = label
        self.early: Any = None  # EarlyStopping, the step budget, the plateau rule and the clock cap, set by attach
        self.budget: Any = None
        self.rate: Any = None
        self.cap: Any = None
        self.state: dict[str, Any] = {}
        self.history: dict[str, list[Any]] = {}

    # -- before fit -------------------------------------------------------------------------
    def read_state(self) -> dict[str, Any]:
        """The saved state when it was made under this key and its files are all there, else {}."""
        path = self.folder / STATE_NAME
        if not path.is_file():
            return {}
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            self.progress(f"{self.label}: its backup in {self.folder} is unreadable; starting the training afresh")
            return {}
        if not isinstance(state, dict):
            self.progress(f"{self.label}: its backup in {self.folder} is malformed; starting the training afresh")
            return {}
        if state.get("key") != self.key:
            raise ConfigError(f"{self.folder} holds an unfinished {self.label} training made with other settings: "
                              "rerun with the options that started it to resume it, or pass --fresh to start over")
        if not well_formed(state):
            self.progress(f"{self.label}: its backup in {self.folder} is malformed; starting the training afresh")
            return {}
        files = [state["weights"], state.get("best_weights")]
        if not all((self.folder / n).is_file() and not (self.folder / n).is_symlink() for n in files if n is not None):
            self.progress(f"{self.label}: the backup in {self.folder} is incomplete; starting the training afresh")
            return {}
        return state

    def attach(self, callbacks: list[keras.callbacks.Callback]) -> tuple[int, dict[str, Any]]:
        """Remember the callbacks to save and restore; (first epoch to run, what the earlier part did)."""
        if self.folder.is_symlink() or (self.folder.exists() and not self.folder.is_dir()):
            # Saving prunes the folder of everything but its own files: never inside someone else's folder.
            raise GenreportError(f"{self.folder} is a symbolic link or not a folder; genreport keeps its training backup there: remove it and run again")
        from genreport.pipeline.training.fit import StepBudget, WallClockCap

        # Found by what they are, not where they sit in the list: their state is what the backup keeps.
        self.early = only_one(callbacks, keras.callbacks.EarlyStopping)
        self.budget = only_one(callbacks, StepBudget)
        self.rate = next((c for c in callbacks if isinstance(c, keras.callbacks.ReduceLROnPlateau)), None)  # the plateau rule
        self.cap = next((c for c in callbacks if isinstance(c, WallClockCap)), None)
        self.state = self.read_state()
        if not self.state:
            self.set_aside()
            return 0, {}
        self.history = {k: list(v) for k, v in self.state.get("history", {}).items()}
        earlier = {k: list(v) for k, v in self.history.items()}
        return int(self.state["epoch"]), {"history": earlier, "seconds": self.state.get("seconds", 0.0),
                                          "finished": bool(self.state.get("stopped"))}

    # -- Keras hooks ------------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        # Runs after EarlyStopping and the rate callback reset themselves, so what it restores stays.
        self.started = _now()
        if not self.state:
            return
        optimizer = self.model.optimizer
        if not optimizer.built:  # Keras builds it at the first step; its moments must exist to be loaded
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(self.folder / self.state["weights"])
        early, rate, budget = self.early, self.rate, self.budget
        saved = self.state["callbacks"]
        early.best, early.wait, early.best_epoch = saved["early_best"], saved["early_wait"], saved["early_best_epoch"]
        early.stopped_epoch = saved.get("early_stopped_epoch", 0)
        if self.state.get("best_weights"):
            with np.load(self.folder / self.state["best_weights"], allow_pickle=False) as arrays:
                early.best_weights = [arrays[f"w{i}"] for i in range(len(arrays.files))]
        if rate is not None:
            rate.best, rate.wait, rate.cooldown_counter = saved["rate_best"], saved["rate_wait"], saved["rate_cooldown"]
        budget.done = int(self.state["steps"])
        if self.cap is not None:  # --max-minutes counts the time before the kill too, and remembers a cut
            self.cap.started -= float(self.state.get("seconds", 0.0))
            self.cap.exhausted = bool(self.state.get("cap_exhausted", False))
        self.progress(f"resuming {self.label} from epoch {self.state['epoch']} of {self.state['planned_epochs']}"
                      f" ({budget.done:,} of {budget.steps:,} steps done)")
        note = kernels_note(f"the backup of {self.label}", self.state.get("kernels"), self.kernels) if self.kernels else None
        if note:
            self.progress(note)
        self.mixed = bool(note) or recorded_kernels(self.state.get("kernels"))["mixed"]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value) if np.isfinite(value) else None)
        self.save(epoch + 1)

    # -- files ------------------------------------------------------------------------------
    def save(self, finished_epochs: int) -> None:
        """Write the weights, the best weights and then the state naming them; drop older files."""
        early, rate, budget = self.early, self.rate, self.budget
        if not ownership.is_real_folder(self.folder):
            ownership.make_folder(self.folder, "backup")
        weights = f"epoch-{finished_epochs:04d}.weights.h5"
        write_atomically(self.folder / weights, lambda tmp: self.model.save_weights(tmp), suffix=".weights.h5")
        best = None
        if early.best_weights is not None:
            best = f"best-{finished_epochs:04d}.npz"
            write_atomically(self.folder / best, lambda tmp: _save_arrays(tmp, early.best_weights), suffix=".npz")
        callbacks = {"early_best": _plain(early.best), "early_wait": int(early.wait), "early_best_epoch": int(early.best_epoch),
                     "early_stopped_epoch": int(early.stopped_epoch)}
        if rate is not None:
            callbacks.update(rate_best=_plain(rate.best), rate_wait=int(rate.wait), rate_cooldown=int(rate.cooldown_counter))
        state = {
            "key": self.key, "epoch": finished_epochs, "planned_epochs": self.params.get("epochs"),
            "steps": int(budget.done), "stopped": bool(self.model.stop_training), "weights": weights,
            "cap_exhausted": bool(getattr(self.cap, "exhausted", False)), "best_weights": best, "callbacks": callbacks,
            "history": self.history, "seconds": float(self.state.get("seconds", 0.0)) + _now() - self.started,
            "kernels": self.trained_under(),
        }
        write_text_atomically(self.folder / STATE_NAME, json.dumps(state, indent=1))
        for path in self.folder.iterdir():
            if path.name not in (weights, best) and (WEIGHTS_NAME.fullmatch(path.name) or BEST_NAME.fullmatch(path.name)):
                _remove(path)

    def trained_under(self) -> dict[str, Any] | None:
        """The kernels this training ran under, marked mixed where it resumed epochs made under others."""
        if self.kernels is None:
            return None
        return dict(self.kernels, mixed=True) if self.mixed else dict(self.kernels)

    def set_aside(self) -> None:
        """Move an unusable backup out of the way (never deleted); nothing to do when there is none."""
        if self.folder.is_dir() and not self.folder.is_symlink() and any(self.folder.iterdir()):
            aside = self.folder.with_name(f"{self.folder.name}.unusable-{time.strftime('%Y%m%d-%H%M%S')}")
            self.folder.rename(aside)
            self.progress(f"{self.label}: moved the unusable backup to {aside}")


WEIGHTS_NAME = re.compile(r"epoch-\d{4,}\.weights\.h5")
BEST_NAME = re.compile(r"best-\d{4,}\.npz")


def well_formed(state: dict[str, Any]) -> bool:
    """Whether a backup state has every field, of the right kind, and names only its own files."""
    def is_int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    try:
        counters = state["callbacks"]
        history = state.get("history", {})
        return (isinstance(state.get("seconds", 0.0), (int, float)) and isinstance(history, dict)
                and all(isinstance(v, list) and all(x is None or isinstance(x, (int, float)) for x in v) for v in history.values())
                and all(is_int(counters.get(k, 0)) for k in ("early_stopped_epoch", "rate_wait", "rate_cooldown"))
                and isinstance(state["epoch"], int) and state["epoch"] >= 0 and isinstance(state["steps"], int) and state["steps"] >= 0
                and isinstance(state["weights"], str) and bool(WEIGHTS_NAME.fullmatch(state["weights"]))
                and (state.get("best_weights") is None or (isinstance(state["best_weights"], str) and bool(BEST_NAME.fullmatch(state["best_weights"]))))
                and isinstance(counters, dict) and all(isinstance(counters[k], int) for k in ("early_wait", "early_best_epoch"))
                and all(isinstance(counters.get(k), (int, float, type(None))) and not isinstance(counters.get(k), bool)
                        for k in ("early_best", "rate_best"))
                and isinstance(state.get("history", {}), dict))
    except (KeyError, TypeError):
        return False


def _save_arrays(path: Path, arrays: list[Any]) -> None:
    """Write ``arrays`` (NumPy arrays, or the tensor snapshots BestWeightsStopping keeps) as w0, w1, ... of an .npz."""
    with open(path, "wb") as handle:
        np.savez(handle, **{f"w{i}": np.asarray(a) for i, a in enumerate(arrays)})


def _remove(path: Path) -> None:
    """Delete one of the backup's own files (a folder or link under its name is not one)."""
    if ownership.is_real_file(path):
        path.unlink()


def _now() -> float:
    return time.monotonic()
