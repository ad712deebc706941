"""Progress: plain lines for logs and pipes, live bars on a terminal, counted trials and images."""

from __future__ import annotations

import io
import os
import pickle
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from genreport.pipeline.core.progress import PlainLines, Stage, Tally, event_sink
from genreport.report.progress import LiveProgress, on_a_terminal, stdout_console


def terminal_progress(width: int = 120) -> tuple[LiveProgress, io.StringIO]:
    screen = io.StringIO()
    return LiveProgress(console=Console(file=screen, force_terminal=True, width=width, highlight=False, soft_wrap=True)), screen


def test_a_log_gets_one_line_per_tenth_of_the_scoring() -> None:
    lines: list[str] = []
    plain = PlainLines(lines.append)
    for done in range(0, 1001, 50):
        plain(Tally("base", done, 1000, "test images scored", tenths=True))
    assert lines == [f"  base: {n * 100:,} of 1,000 test images scored ({n * 10}%)" for n in range(1, 11)]


def test_a_log_counts_a_task_again_after_it_ended() -> None:
    lines: list[str] = []
    plain = PlainLines(lines.append)
    for _ in range(2):
        plain(Tally("base", 10, 10, "test images scored", tenths=True))
    assert len(lines) == 2


def test_a_log_gets_no_line_for_a_tally_of_trials() -> None:
    lines: list[str] = []
    PlainLines(lines.append)(Tally("search", 3, 54, "trials", best=0.01))
    assert lines == []


def test_stage_edges_read_as_start_and_end_lines() -> None:
    lines: list[str] = []
    plain = PlainLines(lines.append)
    plain(Stage("train base"))
    plain(Stage("train base", 12.34))
    assert lines == ["▶ train base", "✓ train base (12.3 s)"]


def test_a_line_sink_is_wrapped_and_an_event_sink_passes_through() -> None:
    lines: list[str] = []
    wrapped = event_sink(lines.append)
    wrapped(Stage("score"))
    assert lines == ["▶ score"]
    assert event_sink(wrapped) is wrapped
    live, _ = terminal_progress()
    assert event_sink(live) is live


def test_a_terminal_draws_a_bar_with_the_trial_count_and_the_best_loss() -> None:
    live, screen = terminal_progress()
    live("trial 2/54: activation=relu")
    live(Tally("search", 1, 54, "trials", best=0.0123))
    live(Tally("search", 2, 54, "trials", best=0.0101))
    live.close()
    drawn = screen.getvalue()
    assert "trial 2/54: activation=relu" in drawn
    assert "2/54" in drawn and "best so far 0.01010" in drawn and "elapsed," in drawn and "left" in drawn
    assert "━" in drawn


def test_a_terminal_closes_the_bars_when_the_next_stage_starts() -> None:
    live, screen = terminal_progress()
    live(Tally("base", 500, 1000, "test images scored", tenths=True))
    live(Stage("score", 2.0))
    assert live.bars is None
    after = screen.getvalue().split("✓ score (2.0 s)")[1]
    assert "━" not in after
    live(Tally("tuned", 1, 1000, "test images scored"))
    assert live.bars is not None and list(live.tasks) == ["tuned"]
    live.close()


def test_a_terminal_never_shows_scoring_lines_per_tenth() -> None:
    live, screen = terminal_progress()
    for done in range(0, 1001, 100):
        live(Tally("base", done, 1000, "test images scored", tenths=True))
    live.close()
    assert "(10%)" not in screen.getvalue() and "1000/1000" in screen.getvalue()


def test_a_file_or_a_pipe_is_not_a_terminal_even_under_force_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # set by many CI systems; rich alone would draw bars into the log
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert not on_a_terminal(stdout_console())


def test_a_dumb_terminal_gets_no_live_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    assert not on_a_terminal(Console(file=io.StringIO(), force_terminal=True))
    monkeypatch.setenv("TERM", "xterm-256color")
    assert on_a_terminal(Console(file=io.StringIO(), force_terminal=True))


def test_a_terminal_prints_lines_as_written_without_markup_or_emoji_codes() -> None:
    live, screen = terminal_progress()
    live("reusing base: out/[bold]x[/bold]/:fire:/base.keras")
    assert "out/[bold]x[/bold]/:fire:/base.keras" in screen.getvalue()


def test_the_run_s_live_bars_are_closed_when_an_error_leaves_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from genreport.report import cli, progress

    live, screen = terminal_progress()
    monkeypatch.setattr(progress, "LiveProgress", lambda: live)
    with pytest.raises(RuntimeError):
        with cli.run_progress(quiet=False) as shown:
            assert shown is live
            shown(Tally("base", 1, 10, "test images scored"))
            raise RuntimeError("boom")
    assert live.bars is None and screen.getvalue().endswith("\x1b[?25h")  # the cursor is shown again


def test_a_terminal_printer_crosses_to_a_seed_process_without_its_bars() -> None:
    live, _ = terminal_progress()
    live(Tally("search", 1, 54, "trials"))
    copy = pickle.loads(pickle.dumps(live))
    live.close()
    assert isinstance(copy, LiveProgress) and copy.bars is None


@pytest.mark.e2e
def test_the_search_tells_each_trial_to_an_event_sink(tmp_path: Path, real_data_dir: Path) -> None:
    from genreport.pipeline.data.fashion_mnist import load_dataset
    from genreport.pipeline.search.runner import run_search
    from genreport.pipeline.search.tuner import TrialBudget

    class Recorder(list):
        takes_events = True

        def __call__(self, event: object) -> None:
            self.append(event)

    data = load_dataset(real_data_dir, train_limit=200, test_limit=10, seed=1)
    budget = TrialBudget(kind="compute", first_flops=1e9, first_steps=1, rate=3, batch_size=16, patience=1)
    told = Recorder()
    run_search(data.x_train[:100], data.x_val[:20], directory=tmp_path / "tuner", algorithm="random", budget=budget,
               rungs=1, max_trials=2, seed=3, progress=told)
    tallies = [e for e in told if isinstance(e, Tally)]
    assert [(t.task, t.done, t.total, t.unit) for t in tallies] == [("search", d, 2, "trials") for d in (0, 1, 1, 2)]
    assert tallies[0].best is None and tallies[-1].best is not None and tallies[-1].best <= tallies[1].best
    assert any(isinstance(e, str) and e.startswith("  val_loss") for e in told)


def read_terminal(command: list[str], cwd: Path, timeout: float = 600) -> tuple[int, str]:
    """Run ``command`` with stdout and stderr on a pseudo-terminal; its exit code and what it drew."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    process = subprocess.Popen(command, stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    os.close(follower)
    drawn, deadline = bytearray(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: every writer has exited
                break
            if not chunk:
                break
            drawn += chunk
        elif process.poll() is not None:
            break
    else:
        process.kill()
    os.close(leader)
    return process.wait(timeout=60), drawn.decode("utf-8", "replace")


@pytest.mark.e2e
def test_eval_only_on_a_terminal_draws_a_scoring_bar_per_variant(smoke_run: tuple[Path, str], tmp_path: Path) -> None:
    genreport = Path(sys.executable).with_name("genreport")
    code, drawn = read_terminal([str(genreport), "eval-only", "--checkpoints", str(smoke_run[0] / "checkpoints"),
                                 "--preset", "smoke", "--test-limit", "10", "--output", str(tmp_path / "eval"), "--format", "html"], cwd=tmp_path)
    assert code == 0, drawn[-2000:]
    for variant in ("base", "modified", "tuned"):
        assert f"  {variant}" in drawn
    assert "10/10" in drawn and "test images scored" in drawn and "━" in drawn
    assert "test images scored (" not in drawn  # the log's lines per tenth are for logs
    assert "mean SSIM: base" in drawn


class ClosingRecorder:
    """An event sink that, when closed, leaves a mark in a file (it crosses to a spawned process)."""

    takes_events = True

    def __init__(self, mark: Path) -> None:
        self.mark = mark

    def __call__(self, event: object) -> None:
        pass

    def close(self) -> None:
        self.mark.write_text("closed")


def test_a_seed_process_that_fails_closes_its_progress_before_it_exits(tmp_path: Path) -> None:
    from genreport.pipeline.core.config import resolve_config
    from genreport.pipeline.core.errors import GenreportError
    from genreport.pipeline.runs.seeds import run_seed_in_child

    config = resolve_config("smoke", {"output": tmp_path / "out", "data_dir": str(tmp_path / "no-data")})
    with pytest.raises(GenreportError, match="seed"):
        run_seed_in_child(config, ClosingRecorder(tmp_path / "mark"), keras_verbose=0)
    assert (tmp_path / "mark").read_text() == "closed"


def test_quiet_runs_print_nothing_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from genreport.report import cli, progress

    live, screen = terminal_progress()
    monkeypatch.setattr(progress, "LiveProgress", lambda: live)
    with cli.run_progress(quiet=True) as shown:
        event_sink(shown)(Stage("train base"))
        event_sink(shown)(Tally("base", 5, 10, "test images scored", tenths=True))
    assert screen.getvalue() == "" and capsys.readouterr().out == ""
