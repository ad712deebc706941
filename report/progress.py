"""Progress on a terminal: the pipeline's lines, with live bars for the search's trials and the scoring.

The bars show k/N, the best validation loss so far (search) and the time left; they close when
the next stage starts, so Keras' own epoch bar never shares the screen with them. Logs and pipes
get ``genreport.pipeline.core.progress.PlainLines`` instead.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as Bars

from genreport.pipeline.core.progress import Event, Stage, Tally, stage_line

# Trials and scoring chunks take seconds to minutes each; rich's default 30 s window would
# forget the rate between two trials of the last rung.
RATE_WINDOW_SECONDS = 900.0


def on_a_terminal(console: Console) -> bool:
    """Whether live bars can be drawn: a terminal that understands cursor movement."""
    return console.is_terminal and not console.is_dumb_terminal


def stdout_console() -> Console:
    """A console on stdout that is a terminal only when stdout is one (rich alone would also say so
    under FORCE_COLOR, and put cursor codes into a log); no markup, emoji codes or highlighting."""
    return Console(force_terminal=sys.stdout.isatty(), highlight=False, soft_wrap=True, emoji=False)


class LiveProgress:
    """Prints lines and stage edges; draws one live bar per counted task until the next stage."""

    takes_events = True

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or stdout_console()
        self.bars: Bars | None = None
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, Tally):
            self.show(event)
            return
        if isinstance(event, Stage):
            self.close()
            event = stage_line(event)
        self.console.print(event, markup=False, highlight=False, emoji=False)

    def show(self, tally: Tally) -> None:
        """Move (or start) the tally's bar."""
        bars = self.bars or self.open()
        best = f"best so far {tally.best:.5f}" if tally.best is not None else ""
        if tally.task not in self.tasks:
            self.tasks[tally.task] = bars.add_task(tally.task, total=tally.total, completed=tally.done, unit=tally.unit, best=best)
        bars.update(self.tasks[tally.task], completed=tally.done, total=tally.total, best=best)

    def open(self) -> Bars:
        self.bars = Bars(
            TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[best]}"), TimeElapsedColumn(), TextColumn("elapsed,"), TimeRemainingColumn(), TextColumn("left"),
            console=self.console, speed_estimate_period=RATE_WINDOW_SECONDS,
            redirect_stderr=sys.stderr.isatty(),  # stderr sent to a file stays there
        )
        self.bars.start()
        return self.bars

    def close(self) -> None:
        """Leave the bars where they are, as last drawn, and stop redrawing them."""
        if self.bars is not None:
            self.bars.stop()
            self.console.show_cursor(True)
        self.bars, self.tasks = None, {}

    def __reduce__(self) -> tuple:
        # A seed's child process draws its own bars on the same terminal.
        return (LiveProgress, ())
