"""The search's oracle trusts no peer, gives up on silent ones, and keeps its files readable.

The oracle is driven through its public methods with made-up scores, as a worker's gRPC calls
would drive it (a worker's copy of a trial crosses the wire as a proto); one test serves it
over real gRPC on loopback. Nothing here trains a model.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import grpc
import keras_tuner
import pytest
from keras_tuner.src.distribute import oracle_client
from keras_tuner.src.distribute.oracle_chief import exit_chief

from genreport.pipeline.search.distributed import serve_oracle
from genreport.pipeline.core.ownership import is_run_entry
from genreport.pipeline.search.oracles import GridHalvingOracle, RecordingRandomSearchOracle, RefusedReport
from genreport.pipeline.search.trials import trial_records
from genreport.pipeline.search.runner import make_tuner
from genreport.pipeline.search.tuner import PROJECT, TrialBudget

Status = keras_tuner.engine.trial.TrialStatus
Trial = keras_tuner.engine.trial.Trial


def halving_oracle(folder: Path, said: list[str]) -> GridHalvingOracle:
    oracle = GridHalvingOracle(rungs=2, rate=3, seed=1)
    oracle._set_project_dir(str(folder), "search")
    oracle.say = said.append
    return oracle


def random_oracle(folder: Path, said: list[str], max_trials: int = 2, timeout: float | None = None) -> RecordingRandomSearchOracle:
    oracle = RecordingRandomSearchOracle(objective="val_loss", max_trials=max_trials, seed=1)
    oracle._set_project_dir(str(folder), "search")
    oracle.say = said.append
    oracle.worker_timeout = timeout
    return oracle


def over_the_wire(trial: Trial) -> Trial:
    """The worker's own copy of a trial, as gRPC hands it over."""
    return Trial.from_proto(trial.to_proto())


def finish(oracle, trial: Trial, score: float = 0.01) -> None:
    oracle.update_trial(trial.trial_id, {"val_loss": score, "steps": 10.0})
    ended = over_the_wire(trial)
    ended.status = Status.COMPLETED
    oracle.end_trial(ended)


# --- scores and hyper-parameters (issue 12, section 2) ------------------------------------------

@pytest.mark.parametrize("metrics", [{"val_loss": -1.0}, {"val_loss": float("nan")}, {"val_loss": float("inf")},
                                     {"val_loss": 0.01, "steps": -5.0}, {"val_loss": 0.01, "made_up": 1.0}])
def test_a_score_that_is_not_finite_and_non_negative_is_refused_and_logged_with_the_worker(tmp_path: Path, metrics: dict) -> None:
    said: list[str] = []
    oracle = halving_oracle(tmp_path, said)
    rogue = oracle.create_trial("tuner-rogue")
    with pytest.raises(RefusedReport):
        oracle.update_trial(rogue.trial_id, metrics)
    assert not oracle.trials[rogue.trial_id].metrics.exists("val_loss")
    assert len(said) == 1 and "'tuner-rogue'" in said[0]


def test_a_trial_ended_with_other_values_than_it_was_given_is_refused(tmp_path: Path) -> None:
    said: list[str] = []
    oracle = halving_oracle(tmp_path, said)
    honest = oracle.create_trial("tuner-honest")
    rogue = oracle.create_trial("tuner-rogue")
    given = dict(rogue.hyperparameters.values)
    oracle.update_trial(rogue.trial_id, {"val_loss": 1e-9})
    forged = over_the_wire(rogue)
    forged.hyperparameters.values["units"] = 50_000_000
    forged.status = Status.COMPLETED
    with pytest.raises(RefusedReport):
        oracle.end_trial(forged)
    assert oracle.trials[rogue.trial_id].hyperparameters.values == given
    assert oracle.trials[rogue.trial_id].status == Status.RUNNING
    finish(oracle, honest)
    assert oracle.get_best_trials(1)[0].trial_id == honest.trial_id
    assert any("'tuner-rogue'" in line and "50000000" in line for line in said)


def test_a_peers_copy_of_the_search_space_is_never_taken(tmp_path: Path) -> None:
    oracle = halving_oracle(tmp_path, [])
    trial = oracle.create_trial("tuner-a")
    oracle.update_trial(trial.trial_id, {"val_loss": 0.02})
    ended = over_the_wire(trial)
    forged_space = keras_tuner.HyperParameters()
    forged_space.Choice("units", [50_000_000, int(trial.hyperparameters.values["units"])])
    for name in ("activation", "optimizer"):
        forged_space.Choice(name, [trial.hyperparameters.values[name]])
    forged_space.Int("rung", 0, 1)
    forged_space.values = dict(trial.hyperparameters.values)  # the values it was given, another space
    ended.hyperparameters = forged_space
    ended.status = Status.COMPLETED
    oracle.end_trial(ended)
    assert oracle.trials[trial.trial_id].status == Status.COMPLETED
    assert "50000000" not in (tmp_path / "search" / f"trial_{trial.trial_id}" / "trial.json").read_text()


def test_a_negative_score_with_fifty_million_units_never_becomes_the_best_trial(tmp_path: Path) -> None:
    oracle = halving_oracle(tmp_path, [])
    honest, rogue = oracle.create_trial("tuner-honest"), oracle.create_trial("tuner-rogue")
    with pytest.raises(RefusedReport):
        oracle.update_trial(rogue.trial_id, {"val_loss": -1.0})
    forged = over_the_wire(rogue)
    forged.hyperparameters.values["units"] = 50_000_000
    forged.status = Status.COMPLETED
    with pytest.raises(RefusedReport):
        oracle.end_trial(forged)
    finish(oracle, honest, 0.02)
    best = oracle.get_best_trials(1)[0]
    assert best.trial_id == honest.trial_id and best.score == pytest.approx(0.02)
    assert all(t.hyperparameters.values["units"] != 50_000_000 for t in oracle.trials.values())


def test_a_report_for_a_trial_nobody_runs_is_refused(tmp_path: Path) -> None:
    oracle = halving_oracle(tmp_path, [])
    done = oracle.create_trial("tuner-a")
    finish(oracle, done, 0.05)
    with pytest.raises(RefusedReport):  # a better score for a finished trial
        oracle.update_trial(done.trial_id, {"val_loss": 0.0})
    assert oracle.trials[done.trial_id].score == pytest.approx(0.05)
    assert oracle.trials[done.trial_id].metrics.get_best_value("val_loss") == pytest.approx(0.05)


def test_a_refused_report_does_not_leave_the_oracle_locked(tmp_path: Path) -> None:
    oracle = halving_oracle(tmp_path, [])
    rogue = oracle.create_trial("tuner-rogue")
    with pytest.raises(RefusedReport):
        oracle.update_trial(rogue.trial_id, {"val_loss": -1.0})
    answered: list[Trial] = []
    other = threading.Thread(target=lambda: answered.append(oracle.create_trial("tuner-other")), daemon=True)
    other.start()
    other.join(timeout=10)
    assert answered and answered[0].status == Status.RUNNING


# --- workers that never come back ---------------------------------------------------------------

def test_a_silent_worker_loses_its_trial_and_the_chief_can_end(tmp_path: Path) -> None:
    said: list[str] = []
    oracle = random_oracle(tmp_path, said, max_trials=2, timeout=0.3)
    gone = oracle.create_trial("tuner-gone")
    real = oracle.create_trial("tuner-real")
    finish(oracle, real)
    assert not exit_chief(oracle)
    time.sleep(0.5)
    assert oracle.create_trial("tuner-real").status == Status.STOPPED
    assert oracle.trials[gone.trial_id].status == Status.FAILED
    assert exit_chief(oracle)  # what KerasTuner's chief waits for
    rows = {row["trial_id"]: row for row in trial_records(oracle)}
    assert rows[gone.trial_id]["status"] == "FAILED" and rows[gone.trial_id]["worker"] == "tuner-gone"
    assert any("'tuner-gone'" in line and "FAILED" in line for line in said)


def test_a_worker_that_keeps_calling_keeps_its_trial_and_a_late_one_is_refused(tmp_path: Path) -> None:
    oracle = random_oracle(tmp_path, [], max_trials=3, timeout=0.4)
    slow = oracle.create_trial("tuner-slow")
    late = oracle.create_trial("tuner-late")
    time.sleep(0.25)
    oracle.create_trial("tuner-slow")  # asks again (same trial): word from it
    time.sleep(0.25)
    oracle.expire_silent_workers()
    assert oracle.trials[slow.trial_id].status == Status.RUNNING
    assert oracle.trials[late.trial_id].status == Status.FAILED
    with pytest.raises(RefusedReport):
        oracle.update_trial(late.trial_id, {"val_loss": 0.01})
    ended = over_the_wire(late)
    ended.status = Status.COMPLETED
    oracle.end_trial(ended)  # ignored: the trial was given up on
    assert oracle.trials[late.trial_id].status == Status.FAILED


def free_port(family: int = socket.AF_INET, host: str = "127.0.0.1") -> int:
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def test_the_chief_serving_over_grpc_refuses_forgeries_and_ends_when_a_peer_vanishes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    oracle = random_oracle(tmp_path, [], max_trials=2, timeout=0.5)
    port = free_port()
    chief = threading.Thread(target=serve_oracle, args=(oracle, f"127.0.0.1:{port}", 0.1), daemon=True)
    chief.start()
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner-client")
    client = oracle_client.OracleClient(None)
    rogue = client.create_trial("tuner-rogue")
    with pytest.raises(grpc.RpcError):
        client.update_trial(rogue.trial_id, {"val_loss": -1.0})
    forged = Trial.from_proto(rogue.to_proto())
    forged.hyperparameters.values["units"] = 50_000_000
    forged.status = Status.COMPLETED
    with pytest.raises(grpc.RpcError):
        client.end_trial(forged)
    real = client.create_trial("tuner-real")  # the oracle still answers after refusing
    client.update_trial(real.trial_id, {"val_loss": 0.03})
    real.status = Status.COMPLETED
    client.end_trial(real)
    assert client.create_trial("tuner-real").status == Status.STOPPED
    chief.join(timeout=30)
    assert not chief.is_alive(), "the chief still waits for the vanished peer"
    assert oracle.trials[rogue.trial_id].status == Status.FAILED
    assert oracle.get_best_trials(1)[0].trial_id == real.trial_id


def test_the_chief_serves_an_ipv6_address_with_its_brackets(tmp_path: Path) -> None:
    from genreport.pipeline.search.distributed import grpc_target, tuner_role, wait_for_chief

    try:
        port = free_port(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    oracle = random_oracle(tmp_path, [], max_trials=1, timeout=30)
    with tuner_role("chief", "::1", port):
        target = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"  # as KerasTuner joins them
    assert target == grpc_target("::1", port) == f"[::1]:{port}"
    chief = threading.Thread(target=serve_oracle, args=(oracle, target, 0.1), daemon=True)
    chief.start()
    wait_for_chief("::1", port, timeout=10)
    with tuner_role("tuner-w", "::1", port):
        client = oracle_client.OracleClient(None)
        trial = client.create_trial("tuner-w")
        client.update_trial(trial.trial_id, {"val_loss": 0.03})
        trial.status = Status.COMPLETED
        client.end_trial(trial)
        assert client.create_trial("tuner-w").status == Status.STOPPED
    chief.join(timeout=30)
    assert not chief.is_alive()


# --- KerasTuner's files (issue 12, section 3) ---------------------------------------------------

def test_the_oracle_replaces_its_files_whole_instead_of_rewriting_them_in_place(tmp_path: Path) -> None:
    oracle = halving_oracle(tmp_path, [])
    trial = oracle.create_trial("tuner0")
    files = [tmp_path / "search" / "oracle.json", tmp_path / "search" / f"trial_{trial.trial_id}" / "trial.json"]
    held = []
    for number, path in enumerate(files):
        link = tmp_path / f"held-{number}"
        os.link(path, link)  # a second name for the file as it is now
        held.append((link, link.read_text()))
    finish(oracle, trial)
    for path, (link, before) in zip(files, held):
        assert not os.path.samefile(path, link), f"{path.name} was rewritten in place"
        assert link.read_text() == before
        json.loads(path.read_text())
    assert not [p.name for p in (tmp_path / "search").rglob(".*")]  # no temporary files left


def tiny_tuner(directory: Path, lines: list[str]):
    budget = TrialBudget(kind="epochs", first_flops=0.0, first_steps=1, rate=3, batch_size=32, patience=1)
    return make_tuner(directory, {"algorithm": "RandomSearch", "max_trials": 2}, budget, seed=1, progress=lines.append)


@pytest.mark.parametrize("broken, text", [("oracle.json", ""), ("trial_0/trial.json", '{"trial_id": "0", "hyperpar')])
def test_an_unreadable_tuner_folder_is_moved_aside_and_the_search_starts_again(tmp_path: Path, broken: str, text: str) -> None:
    lines: list[str] = []
    tuner = tiny_tuner(tmp_path / "tuner", lines)
    finish(tuner.oracle, tuner.oracle.create_trial("tuner0"))
    tuner.save()
    (tmp_path / "tuner" / PROJECT / broken).write_text(text)  # what a kill mid-write left behind
    again = tiny_tuner(tmp_path / "tuner", lines)
    assert again.oracle.trials == {}
    assert again.oracle.create_trial("tuner0").status == Status.RUNNING
    aside = list(tmp_path.glob("tuner.unreadable-*"))
    assert len(aside) == 1 and (aside[0] / PROJECT / broken).read_text() == text and is_run_entry(aside[0])
    moved = [line for line in lines if "moved it to" in line]
    assert len(moved) == 1 and "\n" not in moved[0] and str(aside[0]) in moved[0]


def test_the_tuner_file_is_replaced_whole_too(tmp_path: Path) -> None:
    tuner = tiny_tuner(tmp_path / "tuner", [])
    tuner.save()
    path = Path(tuner._get_tuner_fname())
    os.link(path, tmp_path / "held")
    tuner.save()
    assert not os.path.samefile(path, tmp_path / "held")
