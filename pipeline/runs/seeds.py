"""``full --seeds``: one child process per seed, each a whole single-seed run in ``OUT/seed-<seed>``, then the merged report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from genreport.pipeline.core.config import RunConfig
from genreport.pipeline.core.errors import GenreportError
from genreport.pipeline.core.claims import claim_run_folder
from genreport.pipeline.runs.resume import sweep_temporary_files
from genreport.pipeline.core.progress import PlainLines, Progress, Stage
from genreport.pipeline.runs.stages import RUN_FOLDERS, RunOutcome


def seed_folder(output: Path, seed: int) -> Path:
    """Where one seed of a replicated run keeps its checkpoints, search and results."""
    return output / f"seed-{seed}"


def _run_replicates_locked(config: RunConfig, progress: Progress, keras_verbose: int = 2) -> RunOutcome:
    """Every seed in turn (each resumable on its own), then the merged results in ``OUT/results``."""
    import dataclasses

    from genreport.pipeline.scoring.replicates import merge_results, save_merged_results

    started = time.monotonic()
    folders = []
    for number, seed in enumerate(config.seeds, start=1):
        progress(f"═ seed {seed} ({number} of {len(config.seeds)}) in {seed_folder(config.output, seed)}")
        single = dataclasses.replace(config, seed=seed, seeds=(seed,), output=seed_folder(config.output, seed))
        run_seed_in_child(single, progress, keras_verbose)
        folders.append(single.output / "results")
    progress(Stage(f"merge {len(folders)} seeds"))
    merged = merge_results(folders, search="once per seed")
    results_dir = save_merged_results(merged, config.output)
    across = merged.metrics.replicates.models if merged.metrics.replicates else {}
    return RunOutcome(config.output, results_dir, {m: f.ssim.mean for m, f in across.items()}, time.monotonic() - started)


def run_seed_in_child(config: RunConfig, progress: Progress, keras_verbose: int) -> None:
    """One seed's whole run in a fresh spawned process, so every seed starts from the same memory.

    TensorFlow keeps graphs and allocator pools after a training; three seeds in one process grew
    to 17 GB at smoke scale. The child prints its own progress (``progress`` when it can be sent
    to another process, else plain lines) and its error in one line; a failure stops the replicates.
    """
    import multiprocessing
    import pickle

    try:
        pickle.dumps(progress)
    except Exception:  # it holds a lambda or a local function: the child prints plain lines instead
        progress = PlainLines()  # (one that pickles is copied: a list's append would fill the child's copy)
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_seed_child_main, args=(config, progress, keras_verbose, send))
    child.start()
    send.close()
    try:
        child.join()
    except BaseException:  # Ctrl-C or an error here: the child must not outlive the lock we hold
        child.terminate()
        child.join()
        raise
    error = None
    if child.exitcode not in (0, 130) and receive.poll():
        try:
            error = receive.recv()
        except EOFError:  # it died before it could say why
            error = None
    if child.exitcode == 130:
        raise KeyboardInterrupt
    if child.exitcode != 0:
        raise GenreportError(f"seed {config.seed}: {error or f'its process stopped with exit {child.exitcode}'} (rerunning the same command resumes it)")


def _seed_child_main(config: RunConfig, progress: Progress, keras_verbose: int, errors: Any) -> None:
    import os
    import signal
    import sys

    from genreport.pipeline.core.interrupts import Stopped, stopped_by_signals
    from genreport.pipeline.core.lock import output_lock
    from genreport.pipeline.runs.full import _run_full_locked  # here: run.py imports this module

    _die_with_parent()

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    code = 0
    try:
        with stopped_by_signals(), output_lock(config.output):  # the parent's terminate(): unwind, release the lock
            claim_run_folder(config.output, RUN_FOLDERS, make=RUN_FOLDERS)
            sweep_temporary_files(config.output, progress)
            _run_full_locked(config, progress, keras_verbose)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent's SIGTERM may follow
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        code = 130
    except Stopped as stopped:
        code = 128 + stopped.signum
    except GenreportError as exc:  # the parent raises it as its own one-line error
        errors.send(str(exc))
        code = 1
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        errors.send(f"{type(exc).__name__}: {first}")
        code = 1
    finally:
        close = getattr(progress, "close", None)
        if close is not None:  # live bars on a terminal: stop them and give the cursor back
            close()
    # Everything is written and fsynced (or the error sent); skip the interpreter's teardown of
    # TensorFlow, which took about two minutes after a quick-preset seed on 2 busy cores.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _die_with_parent() -> None:
    """Ask Linux to end this process when its parent dies (a killed `genreport full --seeds`)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the lock still keeps two runs apart
        pass
