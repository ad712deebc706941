"""``full``: train base and modified, search and retrain tuned, score the saved checkpoints and write the results.

It ends by writing ``OUT/results``; the CLI then hands that folder to the renderer. ``--seeds`` runs go through
``pipeline.runs.seeds``, the search through ``pipeline.runs.search_stage``; ``eval-only`` is ``pipeline.runs.eval_only``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from genreport.pipeline.models import checkpoints
from genreport.pipeline.models.catalogue import BASE, FIXED_HYPERPARAMETERS, MODIFIED, TUNED, VARIANTS, published_for
from genreport.pipeline.core.config import RunConfig
from genreport.pipeline.core.claims import claim_run_folder
from genreport.pipeline.core.environment import current_kernels, kernels_note, now_iso, package_versions, seed_everything
from genreport.pipeline.runs.resume import check_same_settings, move_previous_run_aside, normalised, reusable_entry, sweep_temporary_files
from genreport.pipeline.scoring.baselines import score_baselines
from genreport.pipeline.core.progress import Lines, Progress, event_sink
from genreport.pipeline.scoring.score import ResultsInput, score_checkpoints, write_results
from genreport.pipeline.runs.search_stage import add_search_fraction, search_as_chief_or_alone
from genreport.pipeline.runs.seeds import _run_replicates_locked, seed_folder
from genreport.pipeline.runs.stages import RUN_FOLDERS, RunContext, RunOutcome, StageClock, config_fingerprint, load_data, report_files


def training_plan(model: Any, config: RunConfig, images: int) -> Any:
    """The steps one variant trains for under the run's budget."""
    from genreport.pipeline.training.budget import plan_steps

    return plan_steps(model, kind=config.budget, images=images, batch_size=config.batch_size,
                      budget_flops=config.train_flops, epochs=config.epochs)


def tensorboard_callback(folder: Path) -> Any:
    """Loss curves for ``tensorboard --logdir OUT/logs``; the report never reads them.

    A rerun starts the folder afresh, so a resumed training does not append to an older curve.
    """
    import keras

    from genreport.pipeline.core.claims import remove_log_folder

    remove_log_folder(folder)
    return keras.callbacks.TensorBoard(log_dir=str(folder), histogram_freq=0, write_graph=False, update_freq="epoch")


def run_work_after(ctx: RunContext, variant: str) -> tuple[int, float]:
    """What a run still has to do after training ``variant``: (trainings, search FLOPs), for the finish estimate."""
    from genreport.pipeline.training.budget import rung_work
    from genreport.pipeline.search.oracles import rung_sizes

    later = VARIANTS[VARIANTS.index(variant) + 1:]
    config = ctx.config
    search_flops = 0.0
    if variant != TUNED and config.budget == "compute":
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


def train_variant(ctx: RunContext, variant: str, build: Callable[[], Any],
                  hyperparameters: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Reseed, build under the run's policy, train for the budget and save one variant; its manifest
    entry, and the kernels (threads, oneDNN) its training ran under."""
    from contextlib import nullcontext

    from genreport.pipeline.training.backup import EpochBackup, backup_folder
    from genreport.pipeline.training.budget import forward_flops
    from genreport.pipeline.core.environment import release_free_memory, reseed
    from genreport.pipeline.models.builders import layer_table
    from genreport.pipeline.training.fit import FinishEstimate, fit_autoencoder
    from genreport.pipeline.training.precision import apply_policy, distribution_strategy

    config, data = ctx.config, ctx.data
    reseed(config.seed)  # the same start whether or not earlier variants were trained in this process
    apply_policy(ctx.policy)  # clear_session (here or in a search) resets the policy
    strategy = distribution_strategy()
    with strategy.scope() if strategy else nullcontext():
        model = build()
    plan = training_plan(model, config, len(data.x_train))
    backup = EpochBackup(backup_folder(ctx.checkpoints_dir, variant), backup_key(ctx, variant, hyperparameters),
                         progress=ctx.progress, label=variant, kernels=current_kernels())
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
    }, backup.trained_under()


def run_full(config: RunConfig, progress: Progress | Lines = print, fresh: bool = False,
             then: Callable[[RunOutcome], None] | None = None, keras_verbose: int = 2) -> RunOutcome:
    """Train base and modified, search and retrain tuned, score all three, save results.

    Run again into the same folder, it resumes: complete checkpoints made with the same settings
    are reused, and the search continues from ``OUT/tuner``. With several ``config.seeds`` every
    seed runs in ``OUT/seed-<seed>`` and ``OUT/results`` holds the merged replicates. ``then`` (the
    report) runs before the folder's lock is released, so no other run changes the results it reads.
    """
    from genreport.pipeline.core.lock import output_lock

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


def _run_full_locked(config: RunConfig, progress: Progress, keras_verbose: int = 2) -> RunOutcome:
    from genreport.pipeline.core.environment import collections_skip_older_objects, pin_threads, release_free_memory
    from genreport.pipeline.models.builders import build_base, build_modified
    from genreport.pipeline.training.precision import apply_policy, choose_policy

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
    builders = {BASE: build_base, MODIFIED: lambda: build_modified(32, "relu", "adam")}
    # Each variant's reseed and each scored model's sizing collects garbage, to free the model
    # before; TensorFlow's few hundred thousand objects, alive since it loaded, need not be walked
    # every time (0.21 s a collection, eight a smoke run, on a 2-core AVX2 EPYC: benchmarks/results/run-freeze-2026-12-07).
    with collections_skip_older_objects():
        entries = {variant: train_or_reuse(ctx, variant, builders[variant], FIXED_HYPERPARAMETERS[variant]) for variant in FIXED_HYPERPARAMETERS}
        tuning = manifest.get("tuning") if reusable_entry(ctx.checkpoints_dir, manifest, TUNED) else None
        if tuning is None:
            with clock.stage("tune"):
                search = search_as_chief_or_alone(ctx)
                release_free_memory()
            tuning = search.to_dict()
            progress("best hyper-parameters: " + ", ".join(f"{k}={v}" for k, v in search.best.items()))
        ctx.run_info["tuning"] = tuning
        best = dict(tuning["best"])
        entries[TUNED] = train_or_reuse(ctx, TUNED, lambda: build_modified(**best, name=TUNED), best)
        add_search_fraction(tuning, entries[TUNED])
        with clock.stage("score"):
            scored = score_checkpoints(checkpoints.find_checkpoints(ctx.checkpoints_dir), data, progress)
            baselines = score_baselines(data)
    with clock.stage("write results"):
        results_dir = write_results(ResultsInput(
            config=config, data=data, scores=scored.scores, baselines=baselines, samples=scored.samples, entries=entries, tuning=tuning,
            stages=clock.stages, policy=policy, started_at=started_at, mode="full", threads=threads, training_seed=config.seed,
            fingerprint=fingerprint, published=published_for(list(scored.scores)), facts=scored.facts))
    return RunOutcome(config.output, results_dir, {v: float(s.ssim.mean()) for v, s in scored.scores.items()}, time.monotonic() - started)


def budget_words(config: RunConfig) -> str:
    """The run's budget rule in a few words."""
    if config.budget == "compute":
        words = f"equal compute, {config.train_tflop:g} TFLOP per variant"
    else:
        words = f"equal epochs, {config.epochs} per variant"
    return words + (f", each training capped at {config.max_minutes:g} min" if config.max_minutes else "")


def train_or_reuse(ctx: RunContext, variant: str, build: Callable[[], Any], hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """Reuse a complete checkpoint of ``variant`` with the same hyper-parameters, or train one."""
    from genreport.pipeline.training.backup import discard_backup

    entry = reusable_entry(ctx.checkpoints_dir, ctx.manifest, variant)
    if entry is not None and entry.get("hyperparameters") == normalised(hyperparameters):
        ctx.progress(f"reusing {variant}: {checkpoints.checkpoint_path(ctx.checkpoints_dir, variant)} is complete and matches this run")
        note = kernels_note(f"the saved {variant}", checkpoints.saved_kernels(ctx.manifest, variant), current_kernels())
        if note:
            ctx.progress(note)
        return entry
    with ctx.clock.stage(f"train {variant}"):
        entry, kernels = train_variant(ctx, variant, build, hyperparameters)
        checkpoints.record_variant(ctx.checkpoints_dir, variant, entry, ctx.run_info, kernels=kernels)
        discard_backup(ctx.checkpoints_dir, variant)
    return entry
