"""The command line's parts: option types and groups, progress printing, one-line errors, the settings object.

``report.cli`` declares the commands with these; nothing here runs a pipeline.
"""

from __future__ import annotations

import functools
import math
import os
import shlex
import sys
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import click

from genreport.pipeline.core.config import FORMATS, PRECISIONS, PRESETS, RunConfig, parse_formats, resolve_config
from genreport.pipeline.core.errors import GenreportError
from genreport.pipeline.core.interrupts import Stopped, stopped_by_signals
from genreport.pipeline.core.progress import Lines, Progress, Stage, event_sink


def echo(message: str) -> None:
    """One progress line, flushed at once."""
    click.echo(message)
    sys.stdout.flush()


def silent(message: str) -> None:
    """What -q does with a progress line."""


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses NaN and infinity (NaN compares false with every bound, so it passes one)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number is not None and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class FormatList(click.ParamType):
    """'html,pdf' as a tuple of report formats; an unknown name is a usage error (exit 2)."""

    name = "FORMATS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_formats(str(value))
        except GenreportError as exc:
            self.fail(str(exc), param, ctx)


FORMAT_LIST = FormatList()


def progress_printer(quiet: bool) -> Callable[[str], None]:
    """Where progress lines go: stdout, or nowhere under -q (errors and the final line still print)."""
    return silent if quiet else echo


@contextmanager
def run_progress(quiet: bool) -> Iterator[Progress | Lines]:
    """Where a run's progress goes: live bars on a terminal, plain lines in a log or pipe, nothing under -q.

    The live bars are closed however the run ends, so an error prints below them.
    """
    from genreport.report.progress import LiveProgress, on_a_terminal

    live = LiveProgress()
    if quiet or not on_a_terminal(live.console):
        yield progress_printer(quiet)
        return
    try:
        yield live
    finally:
        live.close()


def keras_verbosity(quiet: bool) -> int:
    """Keras' epoch output: none under -q, its live bar on a terminal, one line an epoch in a log or pipe."""
    if quiet:
        return 0
    return 1 if sys.stdout.isatty() else 2


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter out of the progress lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn errors into one-line messages (tracebacks only with --debug)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            with stopped_by_signals():
                return command(*args, **kwargs)
        except click.ClickException:
            raise
        except Stopped as exc:
            click.echo(f"Error: stopped by {exc.name}; what was finished is saved, run the same command again to resume", err=True)
            sys.exit(128 + exc.signum)
        except GenreportError as exc:
            if debug:
                raise
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("Error: interrupted; what was finished is saved, run the same command again to resume", err=True)
            sys.exit(130)
        except OSError as exc:
            if debug:
                raise
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            raise click.ClickException(f"{exc.strerror or exc}{where}") from None
        except Exception as exc:  # a bug or a library failure: still one line, details with --debug
            if debug:
                raise
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            raise click.ClickException(f"{type(exc).__name__}: {first} (run with --debug for the traceback)") from None

    return wrapper


def check_output_dir(path: Path) -> None:
    """Refuse an output path that is a file, cannot be written, or cannot be named in the report."""
    try:
        str(Path(path).absolute()).encode("utf-8")
    except UnicodeEncodeError:
        raise GenreportError(f"--output {ascii(str(path))} is not valid UTF-8, so the report could not name it; choose another folder name") from None
    if path.exists() and not path.is_dir():
        raise GenreportError(f"--output {path} is a file, not a folder")
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), Path("."))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise GenreportError(f"--output {path} cannot be written (no permission on {probe})")


def run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by ``full`` and ``eval-only``."""
    options = [
        click.option("--output", "-o", envvar=environment_variable("--output"), show_envvar=True, type=click.Path(path_type=Path), default=Path("out"), show_default=True, help="Folder for checkpoints, results and the report."),
        click.option("--data-dir", envvar=environment_variable("--data-dir"), show_envvar=True, type=click.Path(path_type=Path), default=None, help="Folder with the four Fashion-MNIST .gz files (else $GENREPORT_DATA_DIR, /usr/share/datasets/fashion-mnist, ~/.keras/datasets/fashion-mnist)."),
        click.option("--preset", envvar=environment_variable("--preset"), show_envvar=True, type=click.Choice(list(PRESETS)), default="full", show_default=True, help="Scale: smoke (the tests' scale: 200 training and 50 test images), quick (a first look), full (all data)."),
        click.option("--budget", envvar=environment_variable("--budget"), show_envvar=True, type=click.Choice(["compute", "epochs"]), default="compute", show_default=True, help="How variants are matched: equal training FLOPs (compute) or equal epochs."),
        click.option("--schedule", envvar=environment_variable("--schedule"), show_envvar=True, type=click.Choice(["cosine", "plateau"]), default="cosine", show_default=True, help="Learning rate: cosine decay to zero over the planned steps, or halved when validation loss stalls."),
        click.option("--train-tflop", envvar=environment_variable("--train-tflop"), show_envvar=True, type=FiniteFloatRange(min=0, min_open=True), default=None, help="--budget compute: training FLOPs of every variant, in 10^12 (overrides the preset)."),
        click.option("--epochs", envvar=environment_variable("--epochs"), show_envvar=True, type=click.IntRange(min=1), default=None, help="--budget epochs: epochs of every variant (overrides the preset)."),
        click.option("--search", envvar=environment_variable("--search"), show_envvar=True, type=click.Choice(["halving", "random"]), default="halving", show_default=True, help="halving: all 36 combinations, then successive halving; random: the original study's RandomSearch."),
        click.option("--max-trials", envvar=environment_variable("--max-trials"), show_envvar=True, type=click.IntRange(min=1), default=None, help="--search random: number of trials (overrides the preset)."),
        click.option("--max-minutes", envvar=environment_variable("--max-minutes"), show_envvar=True, type=FiniteFloatRange(min=0, min_open=True), default=None, help="Stop any one training after this many minutes (off by default; a run it cuts is not repeatable)."),
        click.option("--train-limit", envvar=environment_variable("--train-limit"), show_envvar=True, type=click.IntRange(min=20), default=None, help="Use at most this many training images, validation included."),
        click.option("--test-limit", envvar=environment_variable("--test-limit"), show_envvar=True, type=click.IntRange(min=1), default=None, help="Score at most this many test images (a stratified seeded draw)."),
        click.option("--batch-size", envvar=environment_variable("--batch-size"), show_envvar=True, type=click.IntRange(min=1), default=None, help="Training batch size (overrides the preset)."),
        click.option("--seed", envvar=environment_variable("--seed"), show_envvar=True, type=click.IntRange(min=0), default=None, help="Seed of the training randomness: initialisation, shuffling and the search [default: 42]."),
        click.option("--data-seed", envvar=environment_variable("--data-seed"), show_envvar=True, type=click.IntRange(min=0), default=None, help="Seed of the data draws (training subset, validation split, test subset), kept fixed across training seeds [default: 42]."),
        click.option("--precision", envvar=environment_variable("--precision"), show_envvar=True, type=click.Choice(list(PRECISIONS)), default="auto", show_default=True, help="Training precision; auto picks mixed bfloat16/float16 where the hardware is fast at it."),
        click.option("--format", "formats", envvar=environment_variable("--format"), show_envvar=True, type=FORMAT_LIST, default=",".join(FORMATS), show_default=True, help="Report formats, comma-separated: html, pdf."),
        click.option("--quiet", "-q", is_flag=True, envvar=environment_variable("--quiet"), show_envvar=True, help="Print only errors and the final line."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def environment_variable(option: str) -> str:
    """GENREPORT_<OPTION>: where every run option can also be given, e.g. GENREPORT_PRESET=quick."""
    return "GENREPORT_" + option.lstrip("-").replace("-", "_").upper()


CONFIG_OPTIONS = ("output", "budget", "schedule", "train_tflop", "epochs", "search", "max_trials", "max_minutes", "train_limit",
                  "test_limit", "batch_size", "seed", "data_seed", "precision", "formats", "max_model_gib")


def config_from(options: dict[str, Any], **more: Any) -> RunConfig:
    """A RunConfig from the parsed options (and ``more`` settings a command adds), with the command line recorded."""
    check_output_dir(options["output"])
    overrides = {key: options.get(key) for key in CONFIG_OPTIONS}
    overrides.update(more, data_dir=str(options["data_dir"]) if options["data_dir"] else None,
                     command_line=shlex.join(["genreport", *sys.argv[1:]]))
    return resolve_config(options["preset"], overrides)


def render_and_report(results_dir: Path, output: Path, formats: tuple[str, ...], progress: Progress | Lines = echo) -> None:
    """Render the report and print where it is."""
    from genreport.report.render import render_report

    sink = event_sink(progress)
    sink(Stage("render report"))
    rendered = render_report(results_dir, output, formats)
    sink(Stage("render report", rendered.seconds))
    for kind, path in rendered.paths.items():
        sink(f"report ({kind}): {path}")


VERSION_PACKAGES = ("tensorflow", "keras", "keras-tuner", "scikit-image", "weasyprint", "jinja2", "click")


def show_versions(ctx: click.Context) -> None:
    """Print genreport's version and commit, its main libraries' and Python's, then exit."""
    from genreport.pipeline.core.environment import genreport_record, package_versions

    record = genreport_record()
    click.echo(f"genreport {record['version']}" + (f" (commit {record['commit']})" if record["commit"] else ""))
    for name, version in package_versions(VERSION_PACKAGES).items():
        click.echo(f"{name} {version}")
    ctx.exit(0)


class OneLineErrorGroup(click.Group):
    """A click group whose usage errors, like all others, are a single line on stderr."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "genreport"
            click.echo(f"Error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Error: aborted", err=True)
            sys.exit(1)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)
