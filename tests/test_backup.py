"""A training backed up after every epoch resumes where a kill left it, with the weights of an uninterrupted one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from genreport.pipeline.core.environment import current_kernels
from genreport.pipeline.training.backup import EpochBackup
from genreport.pipeline.training.budget import plan_steps
from genreport.pipeline.data.fashion_mnist import load_dataset
from genreport.pipeline.models.builders import build_modified
from genreport.pipeline.training.fit import fit_autoencoder, standard_callbacks


class KillAfterEpoch(keras.callbacks.Callback):
    """Raises KeyboardInterrupt when epoch ``epoch`` (1-based) has ended and been backed up."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def small_data(real_data_dir):
    return load_dataset(real_data_dir, train_limit=400, test_limit=10, seed=5)


class StopAfterSteps(keras.callbacks.Callback):
    """Stops the training after ``steps`` steps, before its budget is spent, as the wall-clock cap would."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps
        self.done = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.done += 1
        if self.done >= self.steps:
            self.model.stop_training = True


def train(data, schedule: str, backup: EpochBackup | None = None, kill_after: int | None = None, stop_after: int | None = None):
    keras.utils.set_random_seed(5)
    model = build_modified(8, "relu", "adam")
    plan = plan_steps(model, kind="compute", images=len(data.x_train), batch_size=24,
                      budget_flops=3.6 * 15 * 3 * 24 * 3_932_160)  # about 3.6 epochs of 15 steps
    extra = ([StopAfterSteps(stop_after)] if stop_after else []) + ([KillAfterEpoch(kill_after)] if kill_after else [])
    outcome = fit_autoencoder(model, data.x_train, data.x_val, plan=plan, batch_size=24, patience=2, verbose=0,
                              schedule=schedule, shuffle_seed=5, backup=backup, extra_callbacks=extra)
    return model, outcome


@pytest.fixture(scope="module")
def uninterrupted(small_data):
    """Each schedule's training without a backup or a kill, trained once: its weights, optimizer state and outcome."""
    made: dict[str, tuple[list[np.ndarray], list[np.ndarray], object]] = {}

    def of(schedule: str) -> tuple[list[np.ndarray], list[np.ndarray], object]:
        if schedule not in made:
            model, outcome = train(small_data, schedule)
            made[schedule] = (model.get_weights(), [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables], outcome)
        return made[schedule]
    return of


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_a_training_resumed_from_its_backup_ends_with_the_weights_of_an_uninterrupted_one(small_data, uninterrupted, tmp_path, schedule) -> None:
    whole_weights, whole_state, whole_outcome = uninterrupted(schedule)
    backup = EpochBackup(tmp_path / ".backup-modified", key="k", progress=lambda line: None)
    with pytest.raises(KeyboardInterrupt):
        train(small_data, schedule, backup, kill_after=2)
    assert json.loads((tmp_path / ".backup-modified" / "state.json").read_text())["epoch"] == 2
    lines: list[str] = []
    resumed, outcome = train(small_data, schedule, EpochBackup(tmp_path / ".backup-modified", key="k", progress=lines.append))
    assert outcome.resumed_from_epoch == 2 and any(line.startswith("resuming training from epoch 2 of 4") for line in lines)
    assert outcome.steps_run == whole_outcome.steps_run
    assert outcome.history["val_loss"] == whole_outcome.history["val_loss"]
    for a, b in zip(whole_weights, resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(whole_state, resumed.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(b))


def test_a_backup_made_under_other_settings_is_refused_and_kept(small_data, tmp_path) -> None:
    from genreport.pipeline.core.errors import ConfigError

    with pytest.raises(KeyboardInterrupt):
        train(small_data, "cosine", EpochBackup(tmp_path / "b", key="old", progress=lambda line: None), kill_after=1)
    saved = (tmp_path / "b" / "state.json").read_bytes()
    with pytest.raises(ConfigError, match="other settings.*--fresh"):
        train(small_data, "cosine", EpochBackup(tmp_path / "b", key="new", progress=lambda line: None))
    assert (tmp_path / "b" / "state.json").read_bytes() == saved


def test_an_unreadable_backup_state_starts_the_training_afresh(small_data, tmp_path) -> None:
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "state.json").write_text("{")
    lines: list[str] = []
    _, outcome = train(small_data, "cosine", EpochBackup(folder, key="k", progress=lines.append))
    assert outcome.resumed_from_epoch == 0 and any("unreadable" in line for line in lines)
    assert any("moved the unusable backup" in line for line in lines)
    assert [p.name.split(".unusable-")[0] for p in tmp_path.iterdir() if ".unusable-" in p.name] == ["b"]


def test_a_kill_after_the_last_epoch_resumes_into_no_more_training(small_data, uninterrupted, tmp_path) -> None:
    whole_weights, _, whole_outcome = uninterrupted("cosine")
    with pytest.raises(KeyboardInterrupt):
        train(small_data, "cosine", EpochBackup(tmp_path / "b", key="k", progress=lambda line: None), kill_after=4)
    resumed, outcome = train(small_data, "cosine", EpochBackup(tmp_path / "b", key="k", progress=lambda line: None))
    assert outcome.resumed_from_epoch == 4 and outcome.steps_run == whole_outcome.steps_run
    assert outcome.history["val_loss"] == whole_outcome.history["val_loss"]
    for a, b in zip(whole_weights, resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_backup_state_naming_a_file_outside_its_folder_is_not_resumed(tmp_path) -> None:
    outside = tmp_path / "elsewhere.weights.h5"
    outside.write_bytes(b"x")
    folder = tmp_path / "b"
    folder.mkdir()
    state = {"key": "k", "epoch": 2, "steps": 10, "weights": "../elsewhere.weights.h5", "best_weights": None,
             "callbacks": {"early_best": 0.1, "early_wait": 0, "early_best_epoch": 1}, "history": {}}
    (folder / "state.json").write_text(json.dumps(state))
    lines: list[str] = []
    assert EpochBackup(folder, key="k", progress=lines.append).read_state() == {}
    assert any("malformed" in line for line in lines) and outside.exists()


def test_a_symlinked_backup_folder_is_refused_and_its_target_left_alone(tmp_path) -> None:
    from genreport.pipeline.core.errors import GenreportError

    target = tmp_path / "precious"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    (tmp_path / ".backup-base").symlink_to(target)
    with pytest.raises(GenreportError, match="symbolic link"):
        EpochBackup(tmp_path / ".backup-base", key="k", progress=lambda line: None).attach([])
    assert (target / "notes.txt").read_text() == "keep me"


def test_a_training_stopped_before_its_budget_and_then_killed_resumes_into_no_more_training(small_data, tmp_path) -> None:
    with pytest.raises(KeyboardInterrupt):  # stopped 5 steps into epoch 2, killed once that epoch is backed up
        train(small_data, "cosine", EpochBackup(tmp_path / "b", key="k", progress=lambda line: None), kill_after=2, stop_after=20)
    _, outcome = train(small_data, "cosine", EpochBackup(tmp_path / "b", key="k", progress=lambda line: None))
    assert outcome.resumed_from_epoch == 2 and outcome.steps_run == 20


@pytest.fixture(scope="module")
def killed_after_two_epochs(small_data, tmp_path_factory):
    """The backup folder of a plateau-schedule training killed after its second epoch."""
    folder = tmp_path_factory.mktemp("killed") / ".backup-modified"
    with pytest.raises(KeyboardInterrupt):
        train(small_data, "plateau", EpochBackup(folder, key="k", progress=lambda line: None, kernels=current_kernels()), kill_after=2)
    return folder


def test_a_backup_keeps_only_its_last_finished_epoch(killed_after_two_epochs) -> None:
    assert sorted(p.name for p in killed_after_two_epochs.iterdir()) == [".genreport-folder", "best-0002.npz", "epoch-0002.weights.h5", "state.json"]


def test_a_resumed_training_s_callbacks_start_from_the_state_they_were_backed_up_in(killed_after_two_epochs) -> None:
    state = json.loads((killed_after_two_epochs / "state.json").read_text())
    saved = state["callbacks"]
    assert saved["early_best"] is not None and saved["rate_best"] is not None
    model = build_modified(8, "relu", "adam")
    callbacks = standard_callbacks(patience=2, steps=54, schedule="plateau")
    backup = EpochBackup(killed_after_two_epochs, key="k", progress=lambda line: None)
    assert backup.attach(callbacks)[0] == 2
    for callback in [*callbacks, backup]:  # as fit does: every callback resets itself, the backup last
        callback.set_model(model)
        callback.on_train_begin()
    early, rate, budget = callbacks[:3]
    assert (early.best, early.wait, early.best_epoch) == (saved["early_best"], saved["early_wait"], saved["early_best_epoch"])
    assert (rate.best, rate.wait, rate.cooldown_counter) == (saved["rate_best"], saved["rate_wait"], saved["rate_cooldown"])
    assert budget.done == state["steps"] == 30
    with np.load(killed_after_two_epochs / state["best_weights"]) as arrays:
        assert len(early.best_weights) == len(arrays.files)
        for i, weights in enumerate(early.best_weights):
            np.testing.assert_array_equal(weights, arrays[f"w{i}"])


def test_a_training_resumed_under_other_kernels_than_its_backup_says_so_and_counts_as_mixed(killed_after_two_epochs, tmp_path) -> None:
    folder = tmp_path / ".backup-modified"
    shutil.copytree(killed_after_two_epochs, folder)
    now = current_kernels()
    other = dict(now, onednn=not now["onednn"])  # as if oneDNN had been switched since the kill
    model, callbacks, lines = build_modified(8, "relu", "adam"), standard_callbacks(patience=2, steps=54, schedule="plateau"), []
    backup = EpochBackup(folder, key="k", progress=lines.append, label="modified", kernels=other)
    backup.attach(callbacks)
    for callback in [*callbacks, backup]:
        callback.set_model(model)
        callback.on_train_begin()
    notes = [line for line in lines if line.startswith("note: the backup of modified")]
    assert len(notes) == 1 and "\n" not in notes[0]
    assert f"oneDNN {'on' if now['onednn'] else 'off'}, this process has" in notes[0]
    assert backup.trained_under() == dict(other, mixed=True)  # what its later epochs and the manifest record


def test_discarding_a_backup_removes_its_own_files_and_keeps_anything_else(tmp_path: Path) -> None:
    from genreport.pipeline.core import ownership
    from genreport.pipeline.training.backup import backup_folder, discard_backup

    folder = ownership.make_folder(backup_folder(tmp_path, "base"), "backup")
    for name in ("state.json", "epoch-0002.weights.h5", "best-0002.npz", "notes.txt"):
        (folder / name).write_text("x")
    discard_backup(tmp_path, "base")
    assert sorted(p.name for p in folder.iterdir()) == [ownership.MARKER, "notes.txt"]
    (folder / "notes.txt").unlink()
    discard_backup(tmp_path, "base")
    assert not folder.exists()
