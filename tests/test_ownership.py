"""genreport touches only what it wrote: a user's files in (and behind symlinks from) its folders survive every command."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import error_lines, genreport_process, write_results_fixture
from genreport.pipeline.core import claims, journal, ownership
from genreport.pipeline.core.journal import file_sha256
from genreport.report.cli import main
from genreport.report.render import render_report


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file under ``roots`` (links not followed) and the SHA-256 of its bytes, or where a link points."""
    found = {}
    for root in roots:
        for folder, dirs, files in os.walk(root, followlinks=False):
            for name in files + [d for d in dirs if Path(folder, d).is_symlink()]:
                path = Path(folder, name)
                found[str(path)] = os.readlink(path) if path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def report_pair(folder: Path) -> dict[str, tuple[int, str]]:
    """``report.html`` and ``report.pdf`` in ``folder``: each file's inode and SHA-256 (a re-render of the same
    results writes the same bytes, so only the inode shows that a file was replaced)."""
    return {name: (os.stat(folder / name).st_ino, file_sha256(folder / name)) for name in ("report.html", "report.pdf")}


def users_folder(tmp_path: Path, with_results: bool = True) -> tuple[Path, Path]:
    """The attack review's folder: user files named like genreport's leftovers, and checkpoints/tuner symlinked elsewhere."""
    out, elsewhere = tmp_path / "DIR", tmp_path / "elsewhere"
    for folder in (out, elsewhere / "ck", elsewhere / "tuner"):
        folder.mkdir(parents=True)
    if with_results:
        (out / "results").mkdir()
        (out / "results" / "important.txt").write_text("my notes")
    (out / ".notes.backup1.pdf").write_bytes(b"%PDF- mine")
    (out / ".thesis.draft12.tmp").write_text("draft")
    (out / ".results.mine.staging").mkdir()
    (out / ".results.mine.staging" / "keep.txt").write_text("keep")
    (elsewhere / "ck" / ".model.keras.abcdef12.keras").write_text("theirs")
    (elsewhere / "tuner" / ".oracle.json.k2j4l9x1.tmp").write_text("theirs")
    (out / "checkpoints").symlink_to(elsewhere / "ck")
    (out / "tuner").symlink_to(elsewhere / "tuner")
    return out, elsewhere


@pytest.fixture(scope="module")
def reported_template(tmp_path_factory: pytest.TempPathFactory, real_data_dir: Path) -> Path:
    """A run folder like ``results_dir``'s with the report pair genreport rendered from it: its PDF
    takes about 5 s, so it is rendered once and copied for each test that needs a previous pair."""
    out = tmp_path_factory.mktemp("reported") / "out"
    render_report(write_results_fixture(out, real_data_dir), out)
    return out


@pytest.fixture
def reported_run(reported_template: Path, tmp_path: Path) -> Path:
    """A copy of ``reported_template`` of this test's own: its results in ``results``, both reports and the journal."""
    return Path(shutil.copytree(reported_template, tmp_path / "out", symlinks=True))


@pytest.fixture
def untrained_checkpoints(tmp_path: Path) -> Path:
    """A checkpoints folder holding one real (untrained) base model: eval-only scores it for real."""
    from genreport.pipeline.models.checkpoints import save_model
    from genreport.pipeline.models.builders import build_base

    folder = tmp_path / "ck"
    folder.mkdir()
    save_model(build_base(), folder, "base")
    return folder


def test_eval_only_refuses_a_results_folder_it_did_not_write_and_touches_nothing(tmp_path: Path, real_data_dir: Path) -> None:
    out, elsewhere = users_folder(tmp_path)
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "base.keras").write_bytes(b"never opened: the refusal comes first")
    before = snapshot(out, elsewhere, ck)
    result = CliRunner().invoke(main, ["eval-only", "--checkpoints", str(ck), "--output", str(out), "--data-dir", str(real_data_dir)])
    assert result.exit_code == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "important.txt" in lines[0] and "did not write" in lines[0]
    after = snapshot(out, elsewhere, ck)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) <= {str(out / ".genreport.journal"), str(out / ".genreport.lock")}


def test_eval_only_into_a_users_folder_keeps_every_file_there_and_behind_its_symlinks(
        tmp_path: Path, real_data_dir: Path, untrained_checkpoints: Path) -> None:
    out, elsewhere = users_folder(tmp_path, with_results=False)
    before = snapshot(out, elsewhere)
    # The smoke preset's 200 training images for the baselines: with all 60,000 this test took 14.4 s, not 2.8 (2-core AVX2 EPYC).
    result = CliRunner().invoke(main, ["eval-only", "--checkpoints", str(untrained_checkpoints), "--output", str(out), "--data-dir",
                                       str(real_data_dir), "--preset", "smoke", "--test-limit", "20", "--format", "html", "-q"])
    assert result.exit_code == 0, result.output
    assert "temporary" not in result.output
    after = snapshot(out, elsewhere)
    assert {k: v for k, v in after.items() if k in before} == before  # byte for byte, symlinks included
    assert (out / "results" / "metrics.json").is_file() and (out / "report.html").is_file()


def test_merge_refuses_an_output_whose_results_folder_is_not_genreports(tmp_path: Path, real_data_dir: Path) -> None:
    a = write_results_fixture(tmp_path / "a", real_data_dir, seed=1)
    b = write_results_fixture(tmp_path / "b", real_data_dir, seed=2, sigmas={"base": 1.1, "modified": 0.75, "tuned": 0.45})
    out, elsewhere = users_folder(tmp_path)
    before = snapshot(out, elsewhere)
    result = CliRunner().invoke(main, ["render", "--results", str(a), "--results", str(b), "--output", str(out), "--format", "html"])
    assert result.exit_code == 1
    assert "important.txt" in error_lines(result.stderr)[0]
    after = snapshot(out, elsewhere)
    assert {k: v for k, v in after.items() if k in before} == before


def test_fresh_refuses_a_folder_whose_results_or_checkpoints_are_not_genreports(tmp_path: Path, real_data_dir: Path) -> None:
    out, elsewhere = users_folder(tmp_path, with_results=False)
    before = snapshot(out, elsewhere)
    result = CliRunner().invoke(main, ["full", "--fresh", "--preset", "smoke", "--output", str(out), "--data-dir", str(real_data_dir)])
    assert result.exit_code == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "--fresh refuses" in lines[0] and "'checkpoints'" in lines[0]
    assert snapshot(out, elsewhere) == {**before, **{k: v for k, v in snapshot(out).items() if ".genreport." in k}}
    assert not list(tmp_path.glob("DIR.old-*"))


def test_full_refuses_a_symlinked_checkpoints_folder_before_any_work(tmp_path: Path, real_data_dir: Path) -> None:
    out, elsewhere = users_folder(tmp_path, with_results=False)
    before = snapshot(elsewhere)
    result = CliRunner().invoke(main, ["full", "--preset", "smoke", "--output", str(out), "--data-dir", str(real_data_dir)])
    assert result.exit_code == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "checkpoints is a symlink" in lines[0]
    assert snapshot(elsewhere) == before
    assert "load data" not in result.output


def test_render_through_a_symlinked_run_folder_is_refused_without_output(tmp_path: Path, real_data_dir: Path) -> None:
    other = tmp_path / "other-run"
    results = write_results_fixture(other, real_data_dir)
    render_report(results, other, ("html",))
    link = tmp_path / "LINK"
    link.symlink_to(other)
    before = snapshot(other)
    result = CliRunner().invoke(main, ["render", "--results", str(link / "results"), "--format", "html"])
    assert result.exit_code == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "is a symlink" in lines[0] and "--output" in lines[0]
    assert snapshot(other) == before
    elsewhere = tmp_path / "mine"
    result = CliRunner().invoke(main, ["render", "--results", str(link / "results"), "--format", "html", "--output", str(elsewhere)])
    assert result.exit_code == 0, result.output
    assert (elsewhere / "report.html").is_file() and snapshot(other) == before


def test_a_report_file_genreport_did_not_write_is_not_replaced(results_dir: Path) -> None:
    out = results_dir.parent
    (out / "report.html").write_text("<p>my own report</p>")
    result = CliRunner().invoke(main, ["render", "--results", str(results_dir), "--format", "html"])
    assert result.exit_code == 1
    assert "report.html" in error_lines(result.stderr)[0]
    assert (out / "report.html").read_text() == "<p>my own report</p>"


def test_a_report_genreport_wrote_is_replaced_on_the_next_render_and_a_changed_one_is_not(results_dir: Path) -> None:
    out = results_dir.parent
    for _ in range(2):
        result = CliRunner().invoke(main, ["render", "--results", str(results_dir), "--format", "html"])
        assert result.exit_code == 0, result.output
    with open(out / "report.html", "a") as handle:
        handle.write("<!-- edited by its reader -->")
    result = CliRunner().invoke(main, ["render", "--results", str(results_dir), "--format", "html"])
    assert result.exit_code == 1 and "report.html" in error_lines(result.stderr)[0]


def test_a_results_folder_from_before_markers_is_recognised_by_its_files_and_marked(results_dir: Path) -> None:
    (results_dir / ownership.MARKER).unlink()
    assert ownership.owned(results_dir, "results")
    assert ownership.marked_kind(results_dir) == "results"


def test_a_results_folder_with_any_other_file_is_not_recognised_as_genreports(results_dir: Path) -> None:
    (results_dir / ownership.MARKER).unlink()
    (results_dir / "important.txt").write_text("mine")
    assert not ownership.owned(results_dir, "results")


def test_a_render_reads_a_read_only_legacy_results_folder(results_dir: Path, tmp_path: Path) -> None:
    (results_dir / ownership.MARKER).unlink()
    results_dir.chmod(0o555)
    try:
        result = CliRunner().invoke(main, ["render", "--results", str(results_dir), "--format", "html", "--output", str(tmp_path / "r")])
    finally:
        results_dir.chmod(0o755)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_during_the_pdf_layout_keeps_the_previous_report_pair(reported_run: Path, signum: int) -> None:
    """About 6 s each: a real render process (Python, matplotlib and WeasyPrint start-up), stopped mid-layout."""
    out, results_dir = reported_run, reported_run / "results"
    before = report_pair(out)
    process = genreport_process("render", "--results", str(results_dir))
    deadline = time.monotonic() + 60
    while not list(out.glob(".report.pdf.gr*.pdf")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert process.poll() is None, "render ended before its PDF layout began"
    time.sleep(0.3)  # the HTML is written to its temporary file; WeasyPrint is laying out the PDF
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum
    lines = error_lines(stderr)
    assert len(lines) == 1 and f"stopped by {signal.Signals(signum).name}" in lines[0]
    assert report_pair(out) == before  # the same two files, not rewritten
    assert not [p.name for p in out.iterdir() if ownership.TEMPORARY.fullmatch(p.name)]


def test_once_the_journal_records_a_report_an_unrecorded_report_file_is_not_replaced(results_dir: Path) -> None:
    out = results_dir.parent
    assert CliRunner().invoke(main, ["render", "--results", str(results_dir), "--format", "html"]).exit_code == 0
    (out / "report.pdf").write_bytes(b"%PDF-1.4\nmy thesis\n")  # genreport's HTML beside it and its results: still not its PDF
    result = CliRunner().invoke(main, ["render", "--results", str(results_dir)])
    assert result.exit_code == 1 and "report.pdf" in error_lines(result.stderr)[0]
    assert (out / "report.pdf").read_bytes() == b"%PDF-1.4\nmy thesis\n"


def test_a_render_stopped_right_after_its_renames_leaves_a_report_the_next_render_replaces(
        results_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def stopped_after_renaming(folder: Path) -> None:
        raise KeyboardInterrupt  # where a blocked SIGTERM is delivered: after both renames, before anything else

    with monkeypatch.context() as patch:
        patch.setattr("genreport.pipeline.core.fsutil._fsync_directory", stopped_after_renaming)
        with pytest.raises(KeyboardInterrupt):
            render_report(results_dir, results_dir.parent, ("html",))
    result = CliRunner().invoke(main, ["render", "--results", str(results_dir), "--format", "html"])
    assert result.exit_code == 0, result.output


def legacy_run_folder(reported_run: Path) -> Path:
    """A run folder as the genreport before markers and journals left it: no marker anywhere, both reports."""
    out = reported_run
    for path in [*out.rglob(ownership.MARKER), out / ownership.JOURNAL]:
        path.unlink(missing_ok=True)
    return out


def test_a_legacy_folder_with_both_reports_is_re_rendered(reported_run: Path) -> None:
    out, results_dir = legacy_run_folder(reported_run), reported_run / "results"
    assert not journal.recorded_digests(out)
    files_before = {name: os.stat(out / name).st_ino for name in ("report.html", "report.pdf")}
    result = CliRunner().invoke(main, ["render", "--results", str(results_dir)])
    assert result.exit_code == 0, result.output
    recorded = journal.recorded_digests(out)
    for name, inode in files_before.items():  # each written anew (renamed into place), and recorded as genreport's now
        assert os.stat(out / name).st_ino != inode and file_sha256(out / name) in recorded.get(name, []), name


def test_a_legacy_folder_keeps_its_old_style_leftovers_and_is_still_claimed(reported_run: Path) -> None:
    out = legacy_run_folder(reported_run)
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / "base.keras").write_bytes(b"x")
    leftover = out / "checkpoints" / ".base.keras.k3j4l5m6.keras"  # a temporary of the genreport before tokens
    leftover.write_bytes(b"x")
    (out / "tuner" / "modified_search" / "trial_00").mkdir(parents=True)  # killed before its first trial ended: no oracle.json
    claims.claim_run_folder(out, ("checkpoints", "tuner", "results", "logs"), ("report.html", "report.pdf"))
    from genreport.pipeline.runs.resume import sweep_temporary_files

    sweep_temporary_files(out, progress=lambda _: None)
    assert leftover.read_bytes() == b"x"  # nothing proves who made it, so it is not deleted


def test_a_huge_marker_file_is_never_read_whole(tmp_path: Path) -> None:
    import tracemalloc

    folder = tmp_path / "results"
    folder.mkdir()
    with open(folder / ownership.MARKER, "wb") as handle:
        handle.truncate(1 << 30)  # sparse: 1 GiB of nothing on disk
    tracemalloc.start()
    assert ownership.marked_kind(folder) is None
    assert tracemalloc.get_traced_memory()[1] < 1 << 20
    tracemalloc.stop()


def test_an_output_inside_the_results_folder_being_read_is_refused(results_dir: Path) -> None:
    before = snapshot(results_dir)
    result = CliRunner().invoke(main, ["render", "--results", str(results_dir), "--output", str(results_dir / "r"), "--format", "html"])
    assert result.exit_code == 1 and "inside the results folder" in error_lines(result.stderr)[0]
    assert snapshot(results_dir) == before


def test_a_symlinked_file_in_a_checkpoints_folder_is_refused_before_any_work(tmp_path: Path, real_data_dir: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    ownership.make_folder(out / "checkpoints", "checkpoints")
    users = tmp_path / "user-manifest.json"
    users.write_text('{"variants": {}}')
    (out / "checkpoints" / "manifest.json").symlink_to(users)
    result = CliRunner().invoke(main, ["full", "--preset", "smoke", "--output", str(out), "--data-dir", str(real_data_dir)])
    assert result.exit_code == 1 and "manifest.json" in error_lines(result.stderr)[0]
    assert (out / "checkpoints" / "manifest.json").is_symlink() and users.read_text() == '{"variants": {}}'
    assert "load data" not in result.output


def test_fresh_refuses_a_users_report_and_a_users_file_in_a_set_aside_tuner(reported_run: Path) -> None:
    from genreport.pipeline.runs.resume import move_previous_run_aside

    out = legacy_run_folder(reported_run)
    (out / "tuner.unreadable-1").mkdir()
    (out / "tuner.unreadable-1" / "thesis.tex").write_text("mine")
    with pytest.raises(ownership.ConfigError, match="tuner.unreadable-1"):
        move_previous_run_aside(out, progress=lambda _: None)
    (out / "tuner.unreadable-1" / "thesis.tex").unlink()
    (out / "report.pdf").write_bytes(b"%PDF-1.4 notes")  # no longer the PDF genreport wrote beside its HTML? still a PDF
    journal.append_journal(out, "file", "report.html", journal.file_sha256(out / "report.html"))
    with pytest.raises(ownership.ConfigError, match="report.pdf"):
        move_previous_run_aside(out, progress=lambda _: None)
    assert (out / "report.pdf").read_bytes() == b"%PDF-1.4 notes"


def test_full_refuses_a_tuner_folder_it_did_not_write_before_any_work(tmp_path: Path, real_data_dir: Path) -> None:
    out = tmp_path / "DIR"
    (out / "tuner").mkdir(parents=True)
    (out / "tuner" / "my_search.json").write_text('{"mine": true}')
    before = snapshot(out)
    result = CliRunner().invoke(main, ["full", "--preset", "smoke", "--output", str(out), "--data-dir", str(real_data_dir)])
    assert result.exit_code == 1
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "tuner was not written by genreport" in lines[0]
    after = snapshot(out)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) <= {str(out / ".genreport.journal"), str(out / ".genreport.lock")}
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["tuner"]  # no folder made before the refusal
    assert "load data" not in result.output


def test_render_without_output_writes_its_report_beside_the_results_folder_as_given(
        tmp_path: Path, real_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_results_fixture(tmp_path / "run", real_data_dir)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["render", "--results", "run/results", "--format", "html"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "report.html").is_file()
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "run" / "results" / "report.html").exists()


def merge_inputs(tmp_path: Path, real_data_dir: Path) -> list[str]:
    """``--results A --results B`` for two seeds' results folders (no training: the results fixture)."""
    a = write_results_fixture(tmp_path / "a", real_data_dir, seed=1)
    b = write_results_fixture(tmp_path / "b", real_data_dir, seed=2, sigmas={"base": 1.1, "modified": 0.75, "tuned": 0.45})
    return ["--results", str(a), "--results", str(b)]


def test_a_merge_stopped_while_its_results_are_staged_keeps_the_previous_results_and_no_staging_folder(
        tmp_path: Path, real_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genreport.pipeline.core.interrupts import Stopped

    inputs, out = merge_inputs(tmp_path, real_data_dir), tmp_path / "merged"
    assert CliRunner().invoke(main, ["render", *inputs, "--output", str(out), "--format", "html"]).exit_code == 0
    before = snapshot(out / "results")
    folder_before = os.stat(out / "results").st_ino

    def stopped_before_the_swap(staging: Path, folder: Path) -> None:
        assert staging.is_dir() and list(staging.glob("*.csv"))  # the new set is staged in full
        raise Stopped(signal.SIGTERM)  # what a SIGTERM raises at this point

    monkeypatch.setattr("genreport.pipeline.results.store.swap_in", stopped_before_the_swap)
    result = CliRunner().invoke(main, ["render", *inputs, "--output", str(out), "--format", "html"])
    assert result.exit_code == 128 + signal.SIGTERM
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "stopped by SIGTERM" in lines[0]
    assert snapshot(out / "results") == before and os.stat(out / "results").st_ino == folder_before  # not swapped
    assert not [p.name for p in out.iterdir() if ownership.TEMPORARY.fullmatch(p.name)]


def test_a_sigterm_during_a_merge_s_pdf_layout_keeps_the_previous_report_pair(tmp_path: Path, real_data_dir: Path) -> None:
    """About 25 s: a merge with its PDF to keep, then a real merge process stopped mid-layout."""
    inputs, out = merge_inputs(tmp_path, real_data_dir), tmp_path / "merged"
    first = CliRunner().invoke(main, ["render", *inputs, "--output", str(out)])
    assert first.exit_code == 0, first.output
    before = report_pair(out)
    process = genreport_process("render", *inputs, "--output", str(out))
    deadline = time.monotonic() + 60
    while not list(out.glob(".report.pdf.gr*.pdf")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert process.poll() is None, "the merge ended before its PDF layout began"
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    lines = error_lines(stderr)
    assert len(lines) == 1 and "stopped by SIGTERM" in lines[0]
    assert report_pair(out) == before  # the same two files, not rewritten
    assert not [p.name for p in out.iterdir() if ownership.TEMPORARY.fullmatch(p.name)]
