"""The ``genreport`` command line: options become one RunConfig, then one pipeline call and one
render call. Heavy imports (TensorFlow, WeasyPrint) happen inside the commands, so ``--help``
answers at once. Every user error is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

import click

from genreport.pipeline.core.config import FORMATS
from genreport.pipeline.data.fashion_mnist import find_data_dir
from genreport.pipeline.core.errors import ConfigError, GenreportError
from genreport.pipeline.models.model_size import DEFAULT_MAX_MODEL_GIB, PIXEL_RANGES
from genreport.report.cli_options import (FORMAT_LIST, FiniteFloatRange, OneLineErrorGroup, check_output_dir, config_from, echo,
                                          environment_variable, friendly_errors, keras_verbosity, progress_printer, quiet_tensorflow,
                                          render_and_report, run_options, run_progress, show_versions)

if TYPE_CHECKING:
    from genreport.pipeline.scoring.replicates import Merged


@click.group(cls=OneLineErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=lambda ctx, _, value: show_versions(ctx) if value else None,
              help="Show the versions of genreport, its libraries and Python, and exit.")
def main(debug: bool) -> None:
    """Train, tune and score convolutional autoencoders on Fashion-MNIST, and report on them."""
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows at once in logs and pipes


@main.command()
@run_options
@click.option("--fresh", is_flag=True, help="Start over: move what OUT holds to OUT.old-<time> (nothing is deleted) instead of resuming.")
@click.option("--seeds", default=None, metavar="S1,S2,...", help="Train every variant once per seed (each in OUT/seed-<seed>) and report the replicates merged; replaces --seed.")
@click.option("--oracle", default=None, metavar="[HOST:]PORT", help="Be the chief of a distributed search: serve the oracle at HOST:PORT (a bare PORT: 127.0.0.1; gRPC without TLS or authentication, so connect remote workers through SSH tunnels) and let `genreport tune-worker` processes run the trials.")
@click.option("--worker-timeout", type=FiniteFloatRange(min=1), default=1800.0, show_default=True, help="With --oracle: seconds without word from a worker after which its running trial is marked FAILED (longer than any one trial).")
@friendly_errors
def full(fresh: bool, seeds: str | None, oracle: str | None, worker_timeout: float, **options: Any) -> None:
    """Train base and modified, tune and retrain the tuned variant, score all three, report."""
    config = config_from(options, seeds=seeds, oracle=oracle, worker_timeout=worker_timeout if oracle else None)
    if oracle and len(config.seeds) > 1:
        raise GenreportError("--oracle serves one search: run one chief per seed (--seed) and merge with genreport render")
    if oracle:
        from genreport.pipeline.search.distributed import WILDCARD_WARNING, check_bindable, grpc_target, is_wildcard, parse_oracle_address

        host, port = parse_oracle_address(oracle)
        check_bindable(host, port)  # before hours of training, not after
        if is_wildcard(host):
            click.echo(WILDCARD_WARNING.format(target=grpc_target(host, port)), err=True)
    find_data_dir(config.data_dir)  # fail fast, before TensorFlow loads
    quiet_tensorflow()
    from genreport.pipeline.runs.full import run_full

    started, quiet = time.monotonic(), options["quiet"]
    with run_progress(quiet) as progress:
        outcome = run_full(config, progress=progress, fresh=fresh, keras_verbose=keras_verbosity(quiet),
                           then=lambda done: render_and_report(done.results_dir, config.output, config.formats, progress))
    echo("mean SSIM: " + ", ".join(f"{v} {s:.4f}" for v, s in outcome.mean_ssim.items()) + f" · total {time.monotonic() - started:.1f} s")


@main.command("eval-only")
@click.option("--checkpoints", "checkpoint_args", type=click.Path(path_type=Path), multiple=True,
              help="A folder (every *.keras in it) or a .keras file to score; give it several times. Each model is named by its file's stem.")
@click.option("--name", "renames", multiple=True, metavar="NAME=PATH", help="Score the .keras file PATH under the name NAME (it need not be under --checkpoints).")
@click.option("--pixel-range", "pixel_range_args", multiple=True, metavar="[NAME=]" + "|".join(PIXEL_RANGES),
              help="The pixel scale the models were trained on [default: 0,1]; NAME=RANGE sets one model's, whatever the order (a bare RANGE is every other model's). Test images are scaled to it and reconstructions back from it (values outside are clipped and counted).")
@click.option("--training-seed", type=click.IntRange(min=0), default=None,
              help="The seed the models were trained with, recorded so that `genreport render` can merge eval-only results of the same models trained with other seeds [default: the manifest's, for genreport's checkpoints].")
@click.option("--reference", default=None, metavar="NAME", help="The model every other is compared with [default: the first given; genreport's own three variants keep their three comparisons].")
@click.option("--max-model-gib", envvar=environment_variable("--max-model-gib"), show_envvar=True, type=FiniteFloatRange(min=0, min_open=True),
              default=DEFAULT_MAX_MODEL_GIB, show_default=True, help="Refuse a checkpoint whose weights and one scoring batch would take more memory than this (GiB), estimated before it is loaded.")
@run_options
@friendly_errors
def eval_only(checkpoint_args: tuple[Path, ...], renames: tuple[str, ...], pixel_range_args: tuple[str, ...], training_seed: int | None,
              reference: str | None, **options: Any) -> None:
    """Score saved autoencoders on the test set and write results and the report."""
    config = config_from(options)
    from genreport.pipeline.models.model_sources import find_models, pixel_ranges

    models = find_models(list(checkpoint_args), list(renames), warn=echo)  # fail fast, before TensorFlow loads
    ranges = pixel_ranges(list(pixel_range_args), [m.name for m in models])
    if reference is not None and reference not in [m.name for m in models]:
        raise ConfigError(f"--reference {reference!r} is not one of the models: {', '.join(m.name for m in models)}")
    find_data_dir(config.data_dir)
    quiet_tensorflow()
    from genreport.pipeline.runs.eval_only import run_eval_only

    with run_progress(options["quiet"]) as progress:
        outcome = run_eval_only(config, models, progress=progress, pixel_ranges=ranges, reference=reference, training_seed=training_seed,
                                then=lambda done: render_and_report(done.results_dir, config.output, config.formats, progress))
    echo("mean SSIM: " + ", ".join(f"{v} {s:.4f}" for v, s in outcome.mean_ssim.items()))


@main.command("tune-worker")
@click.option("--oracle", required=True, metavar="[HOST:]PORT", help="Address of the chief (`genreport full --oracle HOST:PORT`); a bare PORT is 127.0.0.1:PORT, the near end of an SSH tunnel to the chief.")
@click.option("--worker-id", required=True, help="This worker's name (letters, digits, '-', '_'); recorded with each trial it runs.")
@click.option("--wait", "wait_seconds", type=FiniteFloatRange(min=1), default=30.0, show_default=True, help="Seconds to wait for the chief to answer before giving up.")
@run_options
@friendly_errors
def tune_worker(oracle: str, worker_id: str, wait_seconds: float, **options: Any) -> None:
    """Run search trials for a chief until its search is done (same --preset and --seed as the chief)."""
    from genreport.pipeline.search.distributed import check_worker_id, parse_oracle_address

    parse_oracle_address(oracle)
    check_worker_id(worker_id)
    if options["output"] == Path("out"):
        options["output"] = Path(f"out-worker-{worker_id}")
    config = config_from(options)
    find_data_dir(config.data_dir)
    quiet_tensorflow()
    from genreport.pipeline.search.worker import run_tune_worker

    with run_progress(options["quiet"]) as progress:
        run_tune_worker(config, oracle, worker_id, progress=progress, wait_seconds=wait_seconds)


@main.command()
@click.option("--results", "results_dirs", type=click.Path(path_type=Path), required=True, multiple=True, help="A results folder written by full or eval-only (OUT/results); give it several times to merge seed replicates.")
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None, help="Where to write the report [default: the folder above --results; required when merging].")
@click.option("--format", "formats", type=FORMAT_LIST, default=",".join(FORMATS), show_default=True, help="Report formats, comma-separated: html, pdf.")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors and where the report is.")
@friendly_errors
def render(results_dirs: tuple[Path, ...], output: Path | None, formats: tuple[str, ...], quiet: bool) -> None:
    """Render the report again from saved results, or merge seed replicates into one (no TensorFlow needed)."""
    chosen = formats
    if len(results_dirs) > 1:
        if output is None:
            raise GenreportError("merging several --results needs --output DIR for the merged results and report")
        check_output_dir(output)
        refuse_output_inside(output, results_dirs)
        inputs = {Path(r).resolve() for r in results_dirs}
        if (output / "results").resolve() in inputs:
            raise GenreportError(f"--output {output} would overwrite one of the --results folders being merged; choose another folder")
        with runs_read_then_written([Path(r).resolve().parent for r in results_dirs], output) as writing:
            merged = merge_replicates(list(results_dirs))  # refused here: nothing written, no folder made
            writing()
            claim_for_render(output, chosen, merging=True, quiet=quiet)
            results_dir = save_merged(merged, output, progress_printer(quiet))
            render_and_report(results_dir, output, chosen, progress_printer(quiet))
        target = output
    else:
        if not Path(results_dirs[0]).is_dir():
            raise GenreportError(f"results folder {results_dirs[0]} does not exist")
        target = output if output is not None else report_folder_beside(results_dirs[0])
        check_output_dir(target)
        refuse_output_inside(target, results_dirs)
        with runs_read_then_written([Path(results_dirs[0]).resolve().parent], target) as writing:
            writing()
            claim_for_render(target, chosen, merging=False, quiet=quiet)
            render_and_report(results_dirs[0], target, chosen, progress_printer(quiet))
    if quiet:
        echo(f"report: {', '.join(str(target / f'report.{kind}') for kind in chosen)}")


def report_folder_beside(results_dir: Path) -> Path:
    """The folder above ``results_dir`` as given (never a symlink's target); refused when a symlink is on the way."""
    results_dir = Path(results_dir).absolute()
    for path in (results_dir, results_dir.parent):
        if path.is_symlink():
            raise GenreportError(f"{path} is a symlink, so the report would be written into another folder; "
                                 "pass --output DIR to say where the report goes")
    return results_dir.parent


def refuse_output_inside(target: Path, results_dirs: tuple[Path, ...]) -> None:
    """Refuse an output folder that is, or lies inside, one of the results folders being read."""
    written = Path(target).resolve()
    for results in results_dirs:
        read = Path(results).resolve()
        if written == read or read in written.parents:
            raise GenreportError(f"--output {target} lies inside the results folder {results}; choose a folder outside it")


def claim_for_render(target: Path, formats: tuple[str, ...], merging: bool, quiet: bool) -> None:
    """Refuse to replace a report pair (or, merging, a results folder) genreport did not write; sweep its own leftovers."""
    from genreport.pipeline.core.claims import claim_run_folder
    from genreport.pipeline.runs.resume import sweep_temporary_files

    claim_run_folder(target, ("results",) if merging else (), [f"report.{kind}" for kind in formats])
    sweep_temporary_files(target, progress_printer(quiet))


@contextmanager
def runs_read_then_written(sources: list[Path], target: Path) -> Iterator[Callable[[], None]]:
    """Hold the locks of the run folders read now, and of ``target`` once the yielded function is called.

    No run writes what is read or written meanwhile; ``target`` (created by its lock) is only
    touched after the inputs have passed their checks. A source that is ``target`` itself takes
    the writer's lock alone (one process cannot hold two flocks on one file).
    """
    from genreport.pipeline.core.lock import output_lock, reading_lock

    written = Path(target).resolve()
    with ExitStack() as stack:
        for folder in dict.fromkeys(f.resolve() for f in sources):
            if folder != written:
                stack.enter_context(reading_lock(folder))
        yield lambda: stack.enter_context(output_lock(target))


def merge_replicates(folders: list[Path]) -> Merged:
    """Check and merge replicate results folders (nothing written)."""
    from genreport.pipeline.scoring.replicates import merge_results

    return merge_results(folders, search="as each run did it")


def save_merged(merged: Merged, output: Path, progress: Callable[[str], None] = echo) -> Path:
    """Write merged replicates to ``output/results``; its path."""
    from genreport.pipeline.scoring.replicates import save_merged_results

    progress(f"merged seeds {', '.join(str(s) for s in merged.seeds)} from {len(merged.seeds)} results folders")
    return save_merged_results(merged, output)


if __name__ == "__main__":
    main()
