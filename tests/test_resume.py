"""Interrupted and repeated runs: reuse, refusal of other settings, locking, kill and resume."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import CHEAP_SEEDS, TINY_RUN, error_lines, genreport_process
from genreport.pipeline.models.checkpoints import file_sha256
from genreport.pipeline.core.lock import LOCK_NAME, output_lock
from genreport.pipeline.core.errors import ConfigError
from genreport.pipeline.core.config import RunConfig
from genreport.pipeline.core.ownership import make_folder
from genreport.pipeline.core.journal import append_journal
from genreport.pipeline.runs.resume import move_previous_run_aside, sweep_temporary_files
from genreport.pipeline.training.budget import steps_per_epoch
from genreport.report.cli import main

def per_image_column(out: Path, column: str) -> list[str]:
    with open(out / "results" / "per_image.csv", newline="") as handle:
        return [row[column] for row in csv.DictReader(handle)]


def completed_trials(out: Path) -> dict[str, dict]:
    trials = {}
    for path in sorted((out / "tuner").glob("*/trial_*/trial.json")):
        record = json.loads(path.read_text())
        if record.get("status") == "COMPLETED":
            trials[record["trial_id"]] = record["hyperparameters"]["values"]
    return trials


@pytest.fixture
def finished_copy(smoke_run: tuple[Path, str], tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(smoke_run[0], out)
    return out


@pytest.mark.e2e
def test_a_second_run_reuses_every_complete_checkpoint_even_under_other_kernels_and_says_so(finished_copy: Path) -> None:
    before = {p.name: file_sha256(p) for p in (finished_copy / "checkpoints").glob("*.keras")}
    manifest_path = finished_copy / "checkpoints" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["kernels"]["base"]["onednn"] = not manifest["kernels"]["base"]["onednn"]  # as if base had had the other kernels
    manifest_path.write_text(json.dumps(manifest))
    # Checkpoints do not depend on which test images are scored: 10 of them are enough here.
    result = CliRunner().invoke(main, ["full", "--preset", "smoke", "--test-limit", "10", "--output", str(finished_copy), "--format", "html"])
    assert result.exit_code == 0, result.output
    for variant in ("base", "modified", "tuned"):
        assert f"reusing {variant}" in result.stdout
    assert "trial 1/" not in result.stdout and "▶ train" not in result.stdout
    assert {p.name: file_sha256(p) for p in (finished_copy / "checkpoints").glob("*.keras")} == before
    notes = [line for line in result.stdout.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and notes[0].startswith("note: the saved base was computed with oneDNN")


@pytest.mark.e2e
def test_a_run_folder_from_before_ownership_markers_is_resumed_and_its_report_replaced(finished_copy: Path) -> None:
    for marker in finished_copy.rglob(".genreport-folder"):
        marker.unlink()
    (finished_copy / ".genreport.journal").unlink()
    before = {p.name: file_sha256(p) for p in (finished_copy / "checkpoints").glob("*.keras")}
    reports_before = {name: file_sha256(finished_copy / name) for name in ("report.html", "report.pdf")}
    result = CliRunner().invoke(main, ["full", "--preset", "smoke", "--test-limit", "10", "--output", str(finished_copy)])
    assert result.exit_code == 0, result.output
    assert "reusing tuned" in result.stdout and "▶ train" not in result.stdout
    assert {p.name: file_sha256(p) for p in (finished_copy / "checkpoints").glob("*.keras")} == before
    # Results and both reports are replaced: 10 images scored now (20 before), a new HTML and PDF pair.
    assert len((finished_copy / "results" / "per_image.csv").read_text().splitlines()) == 11
    for name, digest in reports_before.items():
        assert file_sha256(finished_copy / name) != digest, name
    assert "Fashion-MNIST, 10 test images" in (finished_copy / "report.html").read_text()
    for name in ("checkpoints", "tuner", "results", "logs"):  # recognised by their files, and marked now
        assert (finished_copy / name / ".genreport-folder").is_file()


@pytest.mark.e2e
def test_other_settings_into_the_same_folder_are_refused(finished_copy: Path) -> None:
    manifest = (finished_copy / "checkpoints" / "manifest.json").read_text()
    result = CliRunner().invoke(main, ["full", "--preset", "smoke", "--seed", "7", "--output", str(finished_copy)])
    assert result.exit_code != 0
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "seed was 42, now 7" in lines[0] and "--fresh" in lines[0]
    assert (finished_copy / "checkpoints" / "manifest.json").read_text() == manifest


def test_fresh_moves_the_old_run_aside_and_deletes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    make_folder(out / "results", "results")
    (out / "results" / "metrics.json").write_text("{}")
    (out / LOCK_NAME).write_text("")
    aside = move_previous_run_aside(out, progress=lambda _: None)
    assert aside is not None and (aside / "results" / "metrics.json").read_text() == "{}"
    assert out.is_dir() and [p.name for p in out.iterdir()] == [".genreport-folder"]  # an empty run folder, genreport's


def test_fresh_refuses_a_folder_holding_files_genreport_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "thesis.tex").write_text("mine")
    (out / "notes\nforged").write_text("mine")
    with pytest.raises(ConfigError, match="thesis.tex") as caught:
        move_previous_run_aside(out, progress=lambda _: None)
    assert "\n" not in str(caught.value)
    assert (out / "thesis.tex").read_text() == "mine" and (out / "results").is_dir()
    assert not list(tmp_path.glob("out.old-*"))


def test_fresh_moves_the_folder_in_one_rename(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "base.keras").write_text("x")
    inode = out.stat().st_ino
    aside = move_previous_run_aside(out, progress=lambda _: None)
    assert aside.stat().st_ino == inode  # the same folder, renamed: nothing moved entry by entry
    assert (aside / "checkpoints" / "base.keras").read_text() == "x"


KILLED_TOKEN = "0123456789ab"  # the token of a run of this folder that was killed mid-write


def folder_of_a_killed_run(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    append_journal(out, "token", KILLED_TOKEN)
    make_folder(out / "checkpoints", "checkpoints")
    make_folder(out / "results", "results")
    return out


def test_temporary_files_left_by_a_kill_are_swept_and_nothing_else(tmp_path: Path) -> None:
    out = folder_of_a_killed_run(tmp_path)
    left = [out / "checkpoints" / f".base.keras.gr{KILLED_TOKEN}.k2j4l9x1.keras", out / f".report.pdf.gr{KILLED_TOKEN}.abc123xy.pdf",
            out / "results" / f".metrics.json.gr{KILLED_TOKEN}.q1w2e3r4.tmp"]
    kept = [out / "checkpoints" / "base.keras", out / "report.pdf", out / "results" / "metrics.json",
            out / ".notes.backup1.pdf", out / ".thesis.draft12.tmp", out / "checkpoints" / ".base.keras.k2j4l9x1.keras",
            out / ".x.grffffffffffff.abcdefgh.tmp"]  # names like genreport's, but no journalled token
    for path in left + kept:
        path.write_text("x")
    assert sweep_temporary_files(out, progress=lambda _: None) == 3
    assert not any(p.exists() for p in left) and all(p.read_text() == "x" for p in kept)


def test_a_second_concurrent_run_stops_at_once(tmp_path: Path, real_data_dir: Path) -> None:
    out = tmp_path / "out"
    with output_lock(out):
        started = time.monotonic()
        result = CliRunner().invoke(main, ["full", "--preset", "smoke", "--output", str(out)])
    assert result.exit_code != 0
    assert "another genreport process is using" in result.stderr
    assert time.monotonic() - started < 60


def test_a_stale_lock_from_a_dead_process_does_not_block(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text("999999")
    with output_lock(out) as path:
        assert path.read_text() == str(os.getpid())


# A run whose modified variant trains for almost three epochs (180 training images in batches of
# 16 are 12 steps an epoch; 0.1 TFLOP buys 33 steps of 2.97 GFLOP), so that a kill sent once its
# first epoch is backed up lands 21 steps (62 GFLOP) before the training would end: about 2 s alone
# on the 2-core AVX2 EPYC (12 steps at 89-90 ms each; benchmarks/results/suite-2026-12-07b/
# transcripts.txt), about 1.3 s at the 61 ms a step the old comment implied for the AVX-512 EPYC
# (33 steps in about 2 s); the test polls every 50 ms. Its search has three trials to be killed between. (540
# images and 0.2 TFLOP until 2026-12-07: 33 steps of margin, but twice the training in each of
# the fixture's six TensorFlow processes.)
INTERRUPTIBLE_SETTINGS = (*TINY_RUN, "--train-tflop", "0.1", "--max-trials", "3")
# The interrupted run is the second of the --seeds run's seeds, so that a later seed's process is
# checked against a separate run of that seed.
INTERRUPTED_SEED = CHEAP_SEEDS[1]
INTERRUPTIBLE = (*INTERRUPTIBLE_SETTINGS, "--seed", str(INTERRUPTED_SEED))
TRAINING_IMAGES = int(TINY_RUN[TINY_RUN.index("--train-limit") + 1])
STEPS_PER_EPOCH = steps_per_epoch(TRAINING_IMAGES - round(TRAINING_IMAGES * RunConfig.val_fraction), 16)  # 180 images after the split


def start_full(out: Path, settings: tuple[str, ...] = INTERRUPTIBLE, **popen: object) -> subprocess.Popen:
    # A test run started in the background inherits SIGINT ignored, and Python then never turns
    # SIGINT into KeyboardInterrupt: give the child the default disposition.
    return genreport_process("full", *settings, "--output", str(out), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                             **popen)


def wait_for_line(process: subprocess.Popen, text: str, timeout: float) -> list[str]:
    seen, deadline = [], time.monotonic() + timeout
    for line in process.stdout:
        seen.append(line)
        if text in line:
            return seen
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError(f"{text!r} never appeared:\n{''.join(seen)}")


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float, newer_than: float = 0.0) -> None:
    """Until ``path`` exists, written after ``newer_than`` (a time.time()), while ``process`` runs."""
    deadline = time.monotonic() + timeout
    while not (path.is_file() and path.stat().st_mtime > newer_than):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} never appeared (exit {process.returncode})")
        time.sleep(0.05)


def killed(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory, real_data_dir: Path) -> dict:
    """One run of seed 4 stopped three ways (Ctrl-C before a training, a kill inside a training, a
    kill during the search), then finished; beside it, the same settings run uninterrupted for
    seeds 3 and 4 (`--seeds 3,4`, a process per seed, seed 4 second). Kills need processes of
    their own, so this takes 77.5 s alone and 111.6 s in the suite on the 2-core AVX2 EPYC
    (benchmarks/results/suite-2026-12-07b); it is done once and each test below reads one part."""
    root = tmp_path_factory.mktemp("interrupted")
    out, seen = root / "out", {}
    # Runs beside the interrupted one: results do not depend on the load.
    # A session of its own, so that a failure below stops its seed processes with it.
    whole = process = start_full(root / "whole", (*INTERRUPTIBLE_SETTINGS, "--seeds", ",".join(map(str, CHEAP_SEEDS))),
                                 start_new_session=True)
    with ThreadPoolExecutor(1) as reader:  # drains its pipes while the interrupted run goes on here
        whole_streams = reader.submit(whole.communicate, timeout=900)
        try:
            process = start_full(out)
            wait_for_line(process, "▶ train modified", timeout=300)
            process.send_signal(signal.SIGINT)
            _, seen["ctrl_c_stderr"] = process.communicate(timeout=120)
            seen["ctrl_c_code"] = process.returncode
            seen["base_digest"] = file_sha256(out / "checkpoints" / "base.keras")

            started = time.time()  # a backup the Ctrl-C'd run left is not this run's: wait for a newer one
            process = start_full(out)
            wait_for_file(out / "checkpoints" / ".backup-modified" / "state.json", process, timeout=300, newer_than=started)
            killed(process)
            seen["backup"] = json.loads((out / "checkpoints" / ".backup-modified" / "state.json").read_text())

            process = start_full(out)
            seen["before_search_kill"] = "".join(wait_for_line(process, "trial 2/3", timeout=300))
            killed(process)
            seen["trials_before"] = completed_trials(out)

            process = start_full(out)
            seen["last_stdout"], stderr = process.communicate(timeout=600)
            assert process.returncode == 0, stderr[-2000:]
            _, stderr = whole_streams.result()
            assert whole.returncode == 0, stderr[-2000:]
        finally:
            if process.poll() is None:
                process.kill()
            if whole.poll() is None:
                os.killpg(whole.pid, signal.SIGKILL)
    return {"out": out, "whole": root / "whole", "whole_seed": root / "whole" / f"seed-{INTERRUPTED_SEED}", **seen}


@pytest.mark.e2e
def test_ctrl_c_exits_130_with_one_line_and_keeps_the_finished_variant(interrupted: dict) -> None:
    assert interrupted["ctrl_c_code"] == 130
    stderr = interrupted["ctrl_c_stderr"]
    assert "interrupted" in error_lines(stderr)[-1] and "Traceback" not in stderr


@pytest.mark.e2e
def test_a_kill_inside_a_training_resumes_it_from_its_last_finished_epoch(interrupted: dict) -> None:
    saved = interrupted["backup"]
    assert saved["epoch"] >= 1 and saved["steps"] >= STEPS_PER_EPOCH  # at least one whole epoch was kept
    assert f"resuming modified from epoch {saved['epoch']} of " in interrupted["before_search_kill"]
    assert not (interrupted["out"] / "checkpoints" / ".backup-modified").exists()


@pytest.mark.e2e
def test_a_kill_during_the_search_keeps_its_finished_trials_and_runs_only_the_rest(interrupted: dict) -> None:
    before, after = interrupted["trials_before"], completed_trials(interrupted["out"])
    assert 1 <= len(before) < 3 and len(after) == 3  # killed with trial 2 of 3 running
    assert all(after[trial_id] == values for trial_id, values in before.items())
    started = [line for line in interrupted["last_stdout"].splitlines() if line.startswith("trial ")]
    assert len(started) == 3 - len(before)


@pytest.mark.e2e
def test_a_resumed_run_reuses_what_was_finished_without_rewriting_it(interrupted: dict) -> None:
    assert "reusing base" in interrupted["last_stdout"] and "reusing modified" in interrupted["last_stdout"]
    assert "note: " not in interrupted["last_stdout"] + interrupted["before_search_kill"]  # same kernels: nothing to say
    assert file_sha256(interrupted["out"] / "checkpoints" / "base.keras") == interrupted["base_digest"]
    assert (interrupted["out"] / "report.html").is_file()


@pytest.mark.e2e
def test_the_interrupted_run_ends_with_the_uninterrupted_runs_figures_on_every_image(interrupted: dict) -> None:
    # Reseeded before each variant and resumed from a whole epoch's backup, every model (modified
    # killed mid-training, tuned after a search killed mid-way) has the uninterrupted run's weights.
    for column in ("ssim_base", "ssim_modified", "ssim_tuned"):
        assert per_image_column(interrupted["out"], column) == per_image_column(interrupted["whole_seed"], column), column


@pytest.mark.e2e
def test_two_seeds_equal_separate_runs_even_beside_a_busy_process_and_render_merges_them(interrupted: dict, tmp_path: Path) -> None:
    # --seeds runs each seed in a process of its own, one after the other, beside the interrupted
    # run's processes: its second seed's folder is what a separate run of that seed writes (the
    # interrupted run, resumed, beside other neighbours), to the last digit of every image's SSIM,
    # because each process pins its own TensorFlow thread pools from the CPUs it may use, never
    # from the load. render merges separate runs into the same replicate figures.
    first, second = CHEAP_SEEDS
    both, separate = interrupted["whole"], interrupted["out"]
    for seed in CHEAP_SEEDS:
        assert (both / f"seed-{seed}" / "results" / "metrics.json").is_file()
        assert (both / f"seed-{seed}" / "checkpoints" / "tuned.keras").is_file()
    metrics = json.loads((both / "results" / "metrics.json").read_text())
    assert metrics["seeds"] == [first, second]
    html = (both / "report.html").read_text(encoding="utf-8")
    assert f"2 seeds ({first}, {second})" in html and "Mean ± sd across seeds" in html
    threads = [json.loads((folder / "results" / "run.json").read_text())["threads"] for folder in (separate, interrupted["whole_seed"])]
    assert threads[0] == threads[1]  # both counts come from the same CPUs; this catches a count taken from the load
    table = (separate / "results" / "per_image.csv").read_text()
    assert table == (interrupted["whole_seed"] / "results" / "per_image.csv").read_text()
    assert table != (both / f"seed-{first}" / "results" / "per_image.csv").read_text()  # the seeds trained apart
    header, *rows = table.splitlines()
    assert len(rows) == 40 and len([c for c in header.split(",") if c.startswith("ssim")]) == 6
    merged = CliRunner().invoke(main, ["render", "--results", str(both / f"seed-{first}" / "results"), "--results", str(separate / "results"),
                                       "--output", str(tmp_path / "merged"), "--format", "html"])
    assert merged.exit_code == 0, merged.output
    again = json.loads((tmp_path / "merged" / "results" / "metrics.json").read_text())["replicates"]
    assert again["models"] == metrics["replicates"]["models"]
    assert again["comparisons"] == metrics["replicates"]["comparisons"]


def test_results_are_swapped_in_as_one_set_and_a_failed_write_keeps_the_old_set(results_dir: Path, real_data_dir: Path) -> None:
    from dataclasses import replace

    from genreport.pipeline.results.store import load_results, save_results

    before = {p.name: p.read_bytes() for p in results_dir.iterdir()}
    loaded = load_results(results_dir)
    samples = loaded.samples.to_arrays()
    with pytest.raises(TypeError):  # an unserialisable value: the write fails midway
        save_results(results_dir, metrics=replace(loaded.metrics, extras={"bad": object()}), run=loaded.run, per_image="a\n", trials=[],
                     samples=samples)
    assert {p.name: p.read_bytes() for p in results_dir.iterdir()} == before
    assert not [p for p in results_dir.parent.iterdir() if p.name.startswith(".results.")]
    save_results(results_dir, metrics=replace(loaded.metrics, test_images=2), run=loaded.run, per_image="a\n1\n", trials=[], samples=samples)
    assert json.loads((results_dir / "metrics.json").read_text())["test_images"] == 2
    assert (results_dir / "per_image.csv").read_text() == "a\n1\n"  # the tables of the same set, not the old ones


def test_a_swap_interrupted_between_its_renames_is_swept_on_the_next_run(tmp_path: Path) -> None:
    out = folder_of_a_killed_run(tmp_path)
    for name in (f".results.gr{KILLED_TOKEN}.abc123.staging", f".results.gr{KILLED_TOKEN}.def456.previous"):
        make_folder(out / name, "results")
        (out / name / "metrics.json").write_text("{}")
    users = out / f".results.gr{KILLED_TOKEN}.mine00.staging"  # named like ours, but without genreport's marker
    users.mkdir()
    (users / "keep.txt").write_text("mine")
    assert sweep_temporary_files(out, progress=lambda _: None) == 2
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".genreport")) == sorted(["checkpoints", "results", users.name])
    assert (users / "keep.txt").read_text() == "mine"


def test_a_recorded_checkpoint_is_reused_only_while_its_file_is_unchanged(tmp_path: Path) -> None:
    from genreport.pipeline.models.checkpoints import read_manifest, record_variant
    from genreport.pipeline.runs.resume import reusable_entry

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "base.keras").write_bytes(b"the archive as trained")
    record_variant(folder, "base", {"params": 10}, {"fingerprint": {"seed": 1}})
    assert reusable_entry(folder, read_manifest(folder), "base")["params"] == 10
    (folder / "base.keras").write_bytes(b"another archive")
    assert reusable_entry(folder, read_manifest(folder), "base") is None


def test_the_kernels_note_names_what_changed_in_one_line() -> None:
    from genreport.pipeline.core.environment import kernels_note

    note = kernels_note("the saved base", {"threads": 2, "onednn": False}, {"threads": 1, "onednn": True})
    assert note.startswith("note: the saved base was computed with 2 threads and oneDNN off, this process has 1 thread and oneDNN on")
    assert kernels_note("the saved base", {"threads": 2, "onednn": False}, {"threads": 2, "onednn": False}) is None
    mixed = kernels_note("the saved base", {"threads": 2, "onednn": False, "mixed": True}, {"threads": 2, "onednn": False})
    assert mixed.startswith("note: the saved base was computed partly under other kernels")


@pytest.mark.parametrize("saved", [None, {}, {"threads": "2\n\x1b[2J", "onednn": []}, {"threads": True, "onednn": "off"}, [1, 2]])
def test_kernels_a_manifest_does_not_record_plainly_are_taken_as_unknown(saved: object) -> None:
    """Older genreports recorded none; a hand-edited manifest must not crash a resume or print its text."""
    from genreport.pipeline.core.environment import kernels_note

    assert kernels_note("the saved base", saved, {"threads": 2, "onednn": True}) is None


def test_the_manifest_keeps_each_variants_kernels_and_older_manifests_their_thread_count(tmp_path: Path) -> None:
    from genreport.pipeline.models.checkpoints import read_manifest, record_variant, saved_kernels

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for variant in ("base", "modified"):
        (folder / f"{variant}.keras").write_bytes(variant.encode())
    (folder / "manifest.json").write_text(json.dumps({"variants": {}, "threads": 4, "kernels": "damaged"}))
    assert saved_kernels(read_manifest(folder), "base") == {"threads": 4}  # as an older genreport recorded it
    record_variant(folder, "base", {}, {"threads": 2}, kernels={"threads": 2, "onednn": True})
    record_variant(folder, "modified", {}, {"threads": 1}, kernels={"threads": 1, "onednn": False})
    manifest = read_manifest(folder)
    assert saved_kernels(manifest, "base") == {"threads": 2, "onednn": True}
    assert saved_kernels(manifest, "modified") == {"threads": 1, "onednn": False}


@pytest.mark.e2e
def test_ctrl_c_in_a_seeds_run_stops_parent_and_child_with_one_line_and_frees_the_seed_folder(tmp_path: Path, real_data_dir: Path) -> None:
    out = tmp_path / "out"
    process = genreport_process("full", *TINY_RUN, "--seeds", "1,2", "--output", str(out), start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for_line(process, "▶ train modified", timeout=300)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C on a terminal does: the parent and the seed's child
        _, stderr = process.communicate(timeout=120)
    finally:
        os.killpg(process.pid, signal.SIGKILL) if process.poll() is None else None
    assert process.returncode == 130
    assert "interrupted" in error_lines(stderr)[-1] and "Traceback" not in stderr
    with output_lock(out / "seed-1"), output_lock(out):  # no process is left holding either folder
        pass
    assert (out / "seed-1" / "checkpoints" / "base.keras").is_file()  # the finished variant is kept
