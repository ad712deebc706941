"""``eval-only``: score the models a user brings (``pipeline.models.model_sources``) on the test set and save results."""

from __future__ import annotations

import time
from typing import Any, Callable

from genreport.pipeline.models import checkpoints
from genreport.pipeline.models.catalogue import PUBLISHED_SSIM, TUNED, comparisons_for
from genreport.pipeline.models.model_sources import ModelSource
from genreport.pipeline.core.config import RunConfig
from genreport.pipeline.core.errors import ConfigError
from genreport.pipeline.core.claims import claim_run_folder
from genreport.pipeline.core.environment import now_iso, seed_everything
from genreport.pipeline.runs.resume import sweep_temporary_files
from genreport.pipeline.scoring.baselines import score_baselines
from genreport.pipeline.core.progress import Lines, Progress, event_sink
from genreport.pipeline.scoring.score import ResultsInput, score_checkpoints, write_results
from genreport.pipeline.runs.stages import RunOutcome, StageClock, load_data, report_files


def run_eval_only(config: RunConfig, models: list[ModelSource], progress: Progress | Lines = print,
                  then: Callable[[RunOutcome], None] | None = None, pixel_ranges: dict[str, tuple[float, float]] | None = None,
                  reference: str | None = None, training_seed: int | None = None) -> RunOutcome:
    """Score ``models`` (from ``model_sources.find_models``) on the test set and save results.

    The four optional parameters are the command's own options, read once: ``then`` (called with
    the outcome while the folder's lock is still held: the CLI renders the report there),
    ``pixel_ranges`` (per model name, the range its images go in and come out at; default 0-1),
    ``reference`` (the model every other is compared with) and ``training_seed`` (recorded so
    that ``render`` can merge replicates).
    """
    from genreport.pipeline.core.lock import output_lock

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
    tuned = next((m for m in vouched if m.variant == TUNED), None)
    tuning = tuned.entry.get("tuning") if tuned else None
    policy = (vouched[0].entry.get("policy") if all_vouched else None) or "as saved"
    with clock.stage("write results"):
        results_dir = write_results(ResultsInput(
            config=config, data=data, scores=scored.scores, baselines=baselines, samples=scored.samples, entries=entries, tuning=tuning,
            stages=clock.stages, policy=policy, started_at=started_at, mode="eval-only",
            training_seed=training_seed if training_seed is not None else recorded_seed, fingerprint=fingerprint,
            published={m.name: PUBLISHED_SSIM[m.variant] for m in vouched}, pairs=pairs, facts=scored.facts))
    return RunOutcome(config.output, results_dir, {v: float(s.ssim.mean()) for v, s in scored.scores.items()}, time.monotonic() - started)
