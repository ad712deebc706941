"""The two pipelines a user runs: ``full`` (train, tune, score) and ``eval-only`` (score).

Both end by writing ``OUT/results``; the CLI then hands that folder to the renderer.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from genreport.pipeline import checkpoints
from genreport.pipeline.catalogue import PUBLISHED_SSIM, VARIANTS, Design, comparisons_for, published_for
from genreport.pipeline.model_sources import ModelSource
from genreport.pipeline.config import FINGERPRINT_KEYS, SEARCH_SETTINGS, RunConfig
from genreport.pipeline.data import Dataset, load_dataset, stratified_indices
from genreport.pipeline.errors import ConfigError, GenreportError
from genreport.pipeline.ownership import claim_run_folder
from genreport.pipeline.environment import now_iso, package_versions, seed_everything
from genreport.pipeline.resume import check_same_settings, move_previous_run_aside, normalised, reusable_entry, sweep_temporary_files
from genreport.pipeline.baselines import score_baselines
from genreport.pipeline.progress import Lines, PlainLines, Progress, Stage, event_sink
from genreport.pipeline.scoring import ResultsInput, score_checkpoints, write_results


@dataclass
class StageClock:
    """Says when each stage starts and ends, and keeps the durations."""

    progress: Progress
    stages: list[dict[str, Any]] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the stage and record the process's peak resident memory so far when it ends.

        The high-water mark is never reset (a reset would also hide the run's peak from
        ``/usr/bin/time`` and ``getrusage``), so the stage whose value rises is the one that set it.
        """
        from genreport.pipeline.environment import peak_memory_gib
        from genreport.pipeline.interrupts import raise_if_stopped

        raise_if_stopped()
        self.progress(Stage(name))
        started = time.monotonic()
        yield
        seconds = time.monotonic() - started
        self.stages.append({"name": name, "seconds": round(seconds, 2), "peak_rss_gib": peak_memory_gib()})
        self.progress(Stage(name, seconds))


@dataclass
class RunOutcome:
    """Where a run wrote its results, and its headline figures."""

    output: Path
    results_dir: Path
    mean_ssim: dict[str, float]
    seconds: float


@dataclass
class RunContext:
    """What every stage of one run shares: settings, data, precision, records and the clock."""

    config: RunConfig
    data: Dataset
    policy: str
    manifest: dict[str, Any]
    clock: StageClock
    run_info: dict[str, Any] = field(default_factory=dict)
    keras_verbose: int = 2  # 0 silent (-q), 1 Keras' live bar (a terminal), 2 one line an epoch (a log)

    @property
    def progress(self) -> Progress:
        return self.clock.progress

    @property
    def checkpoints_dir(self) -> Path:
        return self.config.output / "checkpoints"


def load_data(config: RunConfig) -> Dataset:
    """The data set at the configuration's scale."""
    return load_dataset(
        config.data_dir,
        train_limit=config.train_limit,
        test_limit=config.test_limit,
        val_fraction=config.val_fraction,
        seed=config.data_seed,
    )


def tuning_subset(data: Dataset, config: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified subsets of train and validation images for the search's trials."""
    rng = np.random.default_rng(config.data_seed + 7)
    train = stratified_indices(data.y_train, config.tune_train_limit, rng)
    val = stratified_indices(data.y_val, min(config.tune_val_limit, len(data.y_val)), rng)
    return data.x_train[train], data.x_val[val]


def config_fingerprint(config: RunConfig, data: Dataset, policy: str) -> dict[str, Any]:
    """The settings that decide what a checkpoint is; a resumed run must match them."""
    from genreport.pipeline import __version__

    settings = config.to_dict()
    return {**{key: settings[key] for key in FINGERPRINT_KEYS}, "policy": policy, "genreport": __version__,
            "data_digests": data.digests}


def training_plan(model: Any, config: RunConfig, images: int) -> Any:
    """The steps one variant trains for under the run's budget."""
    from genreport.pipeline.budget import plan_steps

    return plan_steps(model, kind=config.budget, images=images, batch_size=config.batch_size,
                      budget_flops=config.train_flops, epochs=config.epochs)


def tensorboard_callback(folder: Path) -> Any:
    """Loss curves for ``tensorboard --logdir OUT/logs``; the report never reads them.

    A rerun starts the folder afresh, so a resumed training does not append to an older curve.
    """
    import keras

    from genreport.pipeline.ownership import remove_log_folder

    remove_log_folder(folder)
    return keras.callbacks.TensorBoard(log_dir=str(folder), histogram_freq=0, write_graph=False, update_freq="epoch")


def run_work_after(ctx: RunContext, variant: str) -> tuple[int, float]:
    """What a run still has to do after training ``variant``: (trainings, search FLOPs), for the finish estimate."""
    from genreport.pipeline.budget import rung_work
    from genreport.pipeline.oracles import rung_sizes

    later = VARIANTS[VARIANTS.index(variant) + 1:]
    config = ctx.config
    search_flops = 0.0
    if variant != "tuned" and config.budget == "compute":
        if config.search == "random":
            search_flops = config.max_trials * rung_work(config.trial_flops, config.halving_rate, config.rungs - 1)
        else:
            search_flops = sum(n * rung_work(config.trial_flops, config.halving_rate, r) for r, n in enumerate(rung_sizes(config.rungs, config.halving_rate)))
    return len(later), search_flops


def backup_key(ctx: RunContext, variant: str, hyperparameters: dict[str, Any]) -> str:
    """What a variant's epoch backup must have been made under to be resumed: settings, data, design."""
    import hashlib
    import json

    fingerprint = ctx.run_info.get("fingerprint") or {}
    text = json.dumps({"fingerprint": fingerprint, "variant": variant, "hyperparameters": hyperparameters}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def train_variant(ctx: RunContext, variant: str, build: Callable[[], Any], hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """Reseed, build under the run's policy, train for the budget and save one variant; its manifest entry."""
    from contextlib import nullcontext

    from genreport.pipeline.backup import EpochBackup, backup_folder
    from genreport.pipeline.budget import forward_flops
    from genreport.pipeline.environment import release_free_memory, reseed
    from genreport.pipeline.models import layer_table
    from genreport.pipeline.train import FinishEstimate, apply_policy, distribution_strategy, fit_autoencoder

    config, data = ctx.config, ctx.data
    reseed(config.seed)  # the same start whether or not earlier variants were trained in this process
    apply_policy(ctx.policy)  # clear_session (here or in a search) resets the policy
    strategy = distribution_strategy()
    with strategy.scope() if strategy else nullcontext():
        model = build()
    plan = training_plan(model, config, len(data.x_train))
    backup = EpochBackup(backup_folder(ctx.checkpoints_dir, variant), backup_key(ctx, variant, hyperparameters),
                         progress=ctx.progress, label=variant)
    ctx.progress(f"{variant}: {plan.steps:,} steps of {plan.step_flops / 1e9:.2f} GFLOP ({plan.fractional_epochs:.2f} epochs)")
    outcome = fit_autoencoder(
        model, data.x_train, data.x_val,
        plan=plan,
        batch_size=config.batch_size,
        patience=config.patience,
        max_seconds=config.max_minutes * 60 if config.max_minutes else None,
        verbose=ctx.keras_verbose,
        extra_callbacks=[tensorboard_callback(config.output / "logs" / variant),
                         FinishEstimate(variant, plan, run_work_after(ctx, variant), ctx.progress)],
        schedule=config.schedule,
        shuffle_seed=config.seed,
        backup=backup,
    )
    checkpoints.save_model(model, ctx.checkpoints_dir, variant)  # the backup goes once the manifest records it
    release_free_memory()
    return {
        "variant": variant,
        "hyperparameters": hyperparameters,
        "training": outcome.to_dict(),
        "forward_flops": forward_flops(model),
        "params": int(model.count_params()),
        "layers": layer_table(model),
        "policy": model.dtype_policy.name,
    }


def run_full(config: RunConfig, progress: Progress | Lines = print, fresh: bool = False,
             then: Callable[[RunOutcome], None] | None = None, keras_verbose: int = 2) -> RunOutcome:
    """Train base and modified, search and retrain tuned, score all three, save results.

    Run again into the same folder, it resumes: complete checkpoints made with the same settings
    are reused, and the search continues from ``OUT/tuner``. With several ``config.seeds`` every
    seed runs in ``OUT/seed-<seed>`` and ``OUT/results`` holds the merged replicates. ``then`` (the
    report) runs before the folder's lock is released, so no other run changes the results it reads.
    """
    from genreport.pipeline.lock import output_lock

    progress = event_sink(progress)
    if fresh:
        with output_lock(config.output):
            move_previous_run_aside(config.output, progress)
    with output_lock(config.output):
        if len(config.seeds) > 1:
            claim_run_folder(config.output, ("results",), report_files(config), run_folders=[seed_folder(config.output, s).name for s in config.seeds])
        else:
            claim_run_folder(config.output, RUN_FOLDERS, report_files(config), make=RUN_FOLDERS)
        sweep_temporary_files(config.output, progress)
        if len(config.seeds) > 1:
            outcome = _run_replicates_locked(config, progress, keras_verbose)
        else:
            outcome = _run_full_locked(config, progress, keras_verbose)
        if then is not None:
            then(outcome)
        return outcome


RUN_FOLDERS = ("checkpoints", "tuner", "results", "logs")  # what a single run of `full` writes into OUT


def report_files(config: RunConfig) -> tuple[str, ...]:
    """The report files a run writes into OUT."""
    return tuple(f"report.{kind}" for kind in config.formats)


def seed_folder(output: Path, seed: int) -> Path:
    """Where one seed of a replicated run keeps its checkpoints, search and results."""
    return output / f"seed-{seed}"


def _run_replicates_locked(config: RunConfig, progress: Progress, keras_verbose: int = 2) -> RunOutcome:
    """Every seed in turn (each resumable on its own), then the merged results in ``OUT/results``."""
    import dataclasses

    from genreport.pipeline.replicates import merge_results
    from genreport.pipeline.results import save_results

    started = time.monotonic()
    folders = []
    for number, seed in enumerate(config.seeds, start=1):
        progress(f"═ seed {seed} ({number} of {len(config.seeds)}) in {seed_folder(config.output, seed)}")
        single = dataclasses.replace(config, seed=seed, seeds=(seed,), output=seed_folder(config.output, seed))
        run_seed_in_child(single, progress, keras_verbose)
        folders.append(single.output / "results")
    progress(Stage(f"merge {len(folders)} seeds"))
    merged = merge_results(folders, search="once per seed")
    results_dir = save_results(config.output / "results", metrics=merged["metrics"], run=merged["run"],
                               per_image=merged["per_image"], trials=merged["trials"], samples=merged["samples"])
    across = merged["metrics"]["replicates"]["variants"]
    return RunOutcome(config.output, results_dir, {v: f["ssim"]["mean"] for v, f in across.items()}, time.monotonic() - started)


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

    from genreport.pipeline.interrupts import Stopped, stopped_by_signals
    from genreport.pipeline.lock import output_lock

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


FIXED_VARIANTS = {
    "base": {"activation": "relu", "filters": [32, 64], "optimizer": "adam"},
    "modified": {"activation": "relu", "units": 32, "optimizer": "adam"},
}


def _run_full_locked(config: RunConfig, progress: Progress, keras_verbose: int = 2) -> RunOutcome:
    from genreport.pipeline.environment import pin_threads, release_free_memory
    from genreport.pipeline.models import build_base, build_modified
    from genreport.pipeline.train import apply_policy, choose_policy

    started, started_at = time.monotonic(), now_iso()
    clock = StageClock(progress)
    manifest = checkpoints.read_manifest(config.output / "checkpoints")
    threads = pin_threads()
    seed_everything(config.seed)
    policy = choose_policy(config.precision)
    apply_policy(policy)
    progress(f"precision policy: {policy}; {threads} threads; budget: {budget_words(config)}")
    with clock.stage("load data"):
        data = load_data(config)
    fingerprint = config_fingerprint(config, data, policy)
    check_same_settings(config.output, manifest, fingerprint)
    ctx = RunContext(config, data, policy, manifest, clock, keras_verbose=keras_verbose)
    ctx.run_info = {"config": config.to_dict(), "fingerprint": fingerprint, "policy": policy, "threads": threads,
                    "versions": package_versions()}
    builders = {"base": build_base, "modified": lambda: build_modified(32, "relu", "adam")}
    entries = {variant: train_or_reuse(ctx, variant, builders[variant], FIXED_VARIANTS[variant]) for variant in FIXED_VARIANTS}
    tuning = manifest.get("tuning") if reusable_entry(ctx.checkpoints_dir, manifest, "tuned") else None
    if tuning is None:
        with clock.stage("tune"):
            search = search_as_chief_or_alone(ctx)
            release_free_memory()
        tuning = search.to_dict()
        progress("best hyper-parameters: " + ", ".join(f"{k}={v}" for k, v in search.best.items()))
    ctx.run_info["tuning"] = tuning
    best = dict(tuning["best"])
    entries["tuned"] = train_or_reuse(ctx, "tuned", lambda: build_modified(**best, name="tuned"), best)
    add_search_fraction(tuning, entries["tuned"])
    with clock.stage("score"):
        scored = score_checkpoints(checkpoints.find_checkpoints(ctx.checkpoints_dir), data, progress)
        baselines = score_baselines(data)
    with clock.stage("write results"):
        results_dir = write_results(ResultsInput(config, data, scored.scores, baselines, scored.samples, entries, tuning, clock.stages,
                                                 policy, started_at, "full", threads, config.seed, fingerprint,
                                                 published=published_for(list(scored.scores)), facts=scored.facts))
    return RunOutcome(config.output, results_dir, {v: float(s.ssim.mean()) for v, s in scored.scores.items()}, time.monotonic() - started)


def budget_words(config: RunConfig) -> str:
    """The run's budget rule in a few words."""
    if config.budget == "compute":
        words = f"equal compute, {config.train_tflop:g} TFLOP per variant"
    else:
        words = f"equal epochs, {config.epochs} per variant"
    return words + (f", each training capped at {config.max_minutes:g} min" if config.max_minutes else "")


def add_search_fraction(tuning: dict[str, Any], tuned_entry: dict[str, Any]) -> None:
    """Record what fraction of the final training the search's last rung reached for the chosen design."""
    chosen = tuning["best"]
    last = [t for t in tuning["trials"] if t.get("val_loss") is not None
            and Design.of(t) == Design.of(chosen)]
    if not last or not tuned_entry.get("training"):
        return
    top = max(last, key=lambda t: t["rung"])
    final_steps = tuned_entry["training"].get("budget", {}).get("planned_steps")
    if top.get("steps") and final_steps:
        tuning["last_rung_fraction"] = round(top["steps"] / final_steps, 4)


def search_as_chief_or_alone(ctx: RunContext) -> Any:
    """Run the search here, or serve its oracle to workers when ``config.oracle`` is set."""
    from contextlib import nullcontext

    from genreport.pipeline.distributed import grpc_target, parse_oracle_address, tuner_role, worker_hint
    config = ctx.config
    role = nullcontext()
    timeout = None
    if config.oracle:
        host, port = parse_oracle_address(config.oracle)
        role = tuner_role("chief", host, port)
        timeout = config.worker_timeout
        ctx.progress(f"serving the search oracle on {grpc_target(host, port)} (gRPC, no TLS or authentication; "
                     f"a worker silent for {timeout:g} s loses its trial); {worker_hint(host, port)}")
    with role:
        return configured_search(config, ctx.data, ctx.progress, worker_timeout=timeout)


def trial_budget(config: RunConfig) -> Any:
    """Each search trial's first-rung budget under the run's budget kind."""
    from genreport.pipeline.tuning import TrialBudget

    return TrialBudget(kind=config.budget, first_flops=config.trial_flops, first_steps=config.trial_steps,
                       rate=config.halving_rate, batch_size=config.batch_size, patience=config.patience,
                       schedule=config.schedule, seed=config.seed)


def configured_search(config: RunConfig, data: Dataset, progress: Progress, worker_timeout: float | None = None) -> Any:
    """The search with the run's settings, on its tuning subset, in ``OUT/tuner`` (a chief passes ``worker_timeout``)."""
    from genreport.pipeline.environment import reseed
    from genreport.pipeline.train import apply_policy, choose_policy, distribution_strategy
    from genreport.pipeline.tuning import run_search

    x_tune, x_tune_val = tuning_subset(data, config)
    reseed(config.seed)
    policy = choose_policy(config.precision)
    apply_policy(policy)
    return run_search(
        x_tune, x_tune_val,
        directory=config.output / "tuner",
        algorithm=config.search,
        budget=trial_budget(config),
        rungs=config.rungs,
        max_trials=config.max_trials,
        seed=config.seed,
        progress=progress,
        strategy=distribution_strategy(),
        worker_timeout=worker_timeout,
        settings_digest=search_settings_digest(config, data, policy),
        log_dir=config.output / "logs" / "search",
    )


def search_settings_digest(config: RunConfig, data: Dataset, policy: str) -> str:
    """A short digest of everything that decides a search trial's result: chief and workers must agree on it."""
    import hashlib
    import json

    settings = config.to_dict()
    chosen = {key: settings[key] for key in SEARCH_SETTINGS}
    payload = json.dumps({**chosen, "policy": policy, "data": data.digests}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def train_or_reuse(ctx: RunContext, variant: str, build: Callable[[], Any], hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """Reuse a complete checkpoint of ``variant`` with the same hyper-parameters, or train one."""
    from genreport.pipeline.backup import discard_backup

    entry = reusable_entry(ctx.checkpoints_dir, ctx.manifest, variant)
    if entry is not None and entry.get("hyperparameters") == normalised(hyperparameters):
        ctx.progress(f"reusing {variant}: {checkpoints.checkpoint_path(ctx.checkpoints_dir, variant)} is complete and matches this run")
        return entry
    with ctx.clock.stage(f"train {variant}"):
        entry = train_variant(ctx, variant, build, hyperparameters)
        checkpoints.record_variant(ctx.checkpoints_dir, variant, entry, ctx.run_info)
        discard_backup(ctx.checkpoints_dir, variant)
    return entry


def run_eval_only(config: RunConfig, models: list[ModelSource], progress: Progress | Lines = print,
                  then: Callable[[RunOutcome], None] | None = None, pixel_ranges: dict[str, tuple[float, float]] | None = None,
                  reference: str | None = None, training_seed: int | None = None) -> RunOutcome:
    """Score ``models`` (from ``model_sources.find_models``) on the test set and save results."""
    from genreport.pipeline.lock import output_lock

    progress = event_sink(progress)
    with output_lock(config.output):
        claim_run_folder(config.output, ("results",), report_files(config))
        sweep_temporary_files(config.output, progress)
        outcome = _run_eval_only_locked(config, models, progress, pixel_ranges or {}, reference, training_seed)
        if then is not None:
            then(outcome)
        return outcome


def eval_only_entries(models: list[ModelSource], descriptions: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model, the manifest's record where genreport vouches for the file, else its layers, size and FLOPs read from it."""
    entries = {}
    for model in models:
        if model.vouched:
            entry = {k: v for k, v in model.entry.items() if k not in ("tuning", "fingerprint")}
            entries[model.name] = {**descriptions[model.name], **entry, "variant": model.variant, "genreport_variant": model.variant}
        else:
            entries[model.name] = dict(descriptions[model.name], variant=model.name, genreport_variant=None, file=model.path.name,
                                       sha256=checkpoints.file_sha256(model.path))
    return entries


def _run_eval_only_locked(config: RunConfig, models: list[ModelSource], progress: Progress,
                          pixel_ranges: dict[str, tuple[float, float]], reference: str | None, training_seed: int | None) -> RunOutcome:
    started, started_at = time.monotonic(), now_iso()
    clock = StageClock(progress)
    names = [m.name for m in models]
    vouched = [m for m in models if m.vouched]
    all_vouched = len(vouched) == len(models)
    design_steps = reference is None and all_vouched and all(m.variant == m.name for m in models)
    pairs = comparisons_for(names) if design_steps else comparisons_for(names, reference or names[0])
    fingerprint = vouched[0].entry.get("fingerprint") if all_vouched else None
    recorded_seed = (fingerprint or {}).get("seed")
    if training_seed is not None and recorded_seed is not None and training_seed != recorded_seed:
        raise ConfigError(f"--training-seed {training_seed}, but the manifest records that these checkpoints were trained with seed {recorded_seed}")
    for model in models:  # every model's archive, size and shapes, before any work: a bad eighth model costs seconds, not seven scorings
        checkpoints.check_checkpoint(model.path, config.max_model_gib)
    seed_everything(config.seed)
    with clock.stage("load data"):
        data = load_data(config)
    with clock.stage("score"):
        scored = score_checkpoints({m.name: m.path for m in models}, data, progress, config.max_model_gib, pixel_ranges)
        baselines = score_baselines(data)
    entries = eval_only_entries(models, scored.descriptions)
    tuned = next((m for m in vouched if m.variant == "tuned"), None)
    tuning = tuned.entry.get("tuning") if tuned else None
    policy = (vouched[0].entry.get("policy") if all_vouched else None) or "as saved"
    with clock.stage("write results"):
        results_dir = write_results(ResultsInput(
            config, data, scored.scores, baselines, scored.samples, entries, tuning, clock.stages, policy, started_at, "eval-only", None,
            training_seed if training_seed is not None else recorded_seed, fingerprint,
            published={m.name: PUBLISHED_SSIM[m.variant] for m in vouched}, pairs=pairs, facts=scored.facts))
    return RunOutcome(config.output, results_dir, {v: float(s.ssim.mean()) for v, s in scored.scores.items()}, time.monotonic() - started)
