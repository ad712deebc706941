"""What a run tells the person watching it, as plain data: lines, stage edges and countable steps.

The pipeline says a ``str`` for a line of progress, a ``Stage`` when a stage starts or ends, and a
``Tally`` when a countable stage (search trials, test images scored) moves on. ``PlainLines``
turns the last two into lines for a log or a pipe; the CLI draws live bars from them on a terminal.
Any plain ``Callable[[str], None]`` (``print``, ``list.append``) can stand where progress is asked:
``event_sink`` wraps it in ``PlainLines``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union, cast


@dataclass(frozen=True)
class Stage:
    """A stage starting (``seconds`` is None) or ending after ``seconds``."""

    name: str
    seconds: float | None = None


@dataclass(frozen=True)
class Tally:
    """``done`` of ``total`` ``unit`` of ``task``; ``best`` is the lowest loss so far, if any.

    ``tenths``: a log gets one line per tenth of the total (scoring); otherwise the pipeline
    says its own lines and a log gets none for the tally (trials).
    """

    task: str
    done: int
    total: int
    unit: str
    best: float | None = None
    tenths: bool = False


Event = Union[str, Stage, Tally]
Progress = Callable[[Event], None]
Lines = Callable[[str], None]


def stage_line(stage: Stage) -> str:
    """``▶ name`` for a start, ``✓ name (12.3 s)`` for an end."""
    return f"▶ {stage.name}" if stage.seconds is None else f"✓ {stage.name} ({stage.seconds:.1f} s)"


class PlainLines:
    """Progress as lines for a log or a pipe: stage edges, messages, and a line per tenth of a tally."""

    takes_events = True

    def __init__(self, lines: Lines = print) -> None:
        self.lines = lines
        self.told_tenths: dict[str, int] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, Stage):
            self.lines(stage_line(event))
        elif isinstance(event, Tally):
            self.tally(event)
        else:
            self.lines(event)

    def tally(self, tally: Tally) -> None:
        if not tally.tenths:
            return
        tenth = tally.done * 10 // max(tally.total, 1)
        if tenth > self.told_tenths.get(tally.task, 0):
            self.told_tenths[tally.task] = tenth
            self.lines(f"  {tally.task}: {tally.done:,} of {tally.total:,} {tally.unit} ({tenth * 10}%)")
        if tally.done >= tally.total:  # the task is over: the same name may count again later
            self.told_tenths.pop(tally.task, None)

    def __reduce__(self) -> tuple:
        # A seed's child process gets a fresh printer for the same line sink.
        return (PlainLines, (self.lines,))


def event_sink(progress: Progress | Lines | None) -> Progress:
    """``progress`` itself when it takes events, else the line sink wrapped in ``PlainLines`` (None: print)."""
    if progress is None:
        return PlainLines()
    if getattr(progress, "takes_events", False):
        return cast(Progress, progress)
    return PlainLines(cast(Lines, progress))
