"""A training backed up after every epoch resumes where a kill left it, with the weights of an uninterrupted one."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from genreport.pipeline.backup import EpochBackup
from genreport.pipeline.budget import plan_steps
from genreport.pipeline.data import load_dataset
from genreport.pipeline.models import build_modified
from genreport.pipeline.train import fit_autoencoder


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


def train(data, schedule: str, backup: EpochBackup | None = None, kill_after: int | None = None):
    keras.utils.set_random_seed(5)
    model = build_modified(8, "relu", "adam")
    plan = plan_steps(model, kind="compute", images=len(data.x_train), batch_size=24,
                      budget_flops=3.6 * 15 * 3 * 24 * 3_932_160)  # about 3.6 epochs of 15 steps
    extra = [KillAfterEpoch(kill_after)] if kill_after else []
    outcome = fit_autoencoder(model, data.x_train, data.x_val, plan=plan, batch_size=24, patience=2, verbose=0,
                              schedule=schedule, shuffle_seed=5, backup=backup, extra_callbacks=extra)
    return model, outcome


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_a_training_resumed_from_its_backup_ends_with_the_weights_of_an_uninterrupted_one(small_data, tmp_path, schedule) -> None:
    whole, whole_outcome = train(small_data, schedule)
    backup = EpochBackup(tmp_path / ".backup-modified", key="k", progress=lambda line: None)
    with pytest.raises(KeyboardInterrupt):
        train(small_data, schedule, backup, kill_after=2)
    assert json.loads((tmp_path / ".backup-modified" / "state.json").read_text())["epoch"] == 2
    lines: list[str] = []
    resumed, outcome = train(small_data, schedule, EpochBackup(tmp_path / ".backup-modified", key="k", progress=lines.append))
    assert outcome.resumed_from_epoch == 2 and any(line.startswith("resuming training from epoch 2 of 4") for line in lines)
    assert outcome.steps_run == whole_outcome.steps_run
    assert outcome.history["val_loss"] == whole_outcome.history["val_loss"]
    for a, b in zip(whole.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(whole.optimizer.variables, resumed.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_a_backup_made_under_other_settings_is_discarded_not_resumed(small_data, tmp_path) -> None:
    with pytest.raises(KeyboardInterrupt):
        train(small_data, "cosine", EpochBackup(tmp_path / "b", key="old", progress=lambda line: None), kill_after=1)
    lines: list[str] = []
    _, outcome = train(small_data, "cosine", EpochBackup(tmp_path / "b", key="new", progress=lines.append))
    assert outcome.resumed_from_epoch == 0 and any("other settings" in line for line in lines)


def test_an_unreadable_backup_state_starts_the_training_afresh(small_data, tmp_path) -> None:
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "state.json").write_text("{")
    lines: list[str] = []
    _, outcome = train(small_data, "cosine", EpochBackup(folder, key="k", progress=lines.append))
    assert outcome.resumed_from_epoch == 0 and any("unreadable" in line for line in lines)


def test_a_kill_after_the_last_epoch_resumes_into_no_more_training(small_data, tmp_path) -> None:
    whole, whole_outcome = train(small_data, "cosine")
    with pytest.raises(KeyboardInterrupt):
        train(small_data, "cosine", EpochBackup(tmp_path / "b", key="k", progress=lambda line: None), kill_after=4)
    resumed, outcome = train(small_data, "cosine", EpochBackup(tmp_path / "b", key="k", progress=lambda line: None))
    assert outcome.resumed_from_epoch == 4 and outcome.steps_run == whole_outcome.steps_run
    assert outcome.history["val_loss"] == whole_outcome.history["val_loss"]
    for a, b in zip(whole.get_weights(), resumed.get_weights(), strict=True):
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
    from genreport.pipeline.errors import GenreportError

    target = tmp_path / "precious"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    (tmp_path / ".backup-base").symlink_to(target)
    with pytest.raises(GenreportError, match="symbolic link"):
        EpochBackup(tmp_path / ".backup-base", key="k", progress=lambda line: None).attach([])
    assert (target / "notes.txt").read_text() == "keep me"
