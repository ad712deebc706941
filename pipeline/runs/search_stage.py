"""The search stage of ``full``: the tuning subset, the trial budget, the tuner (alone, as an ``--oracle`` chief, or for a worker) and its settings digest."""

from __future__ import annotations

from typing import Any

import numpy as np

from genreport.pipeline.models.catalogue import Design
from genreport.pipeline.core.config import SEARCH_SETTINGS, RunConfig
from genreport.pipeline.data.fashion_mnist import Dataset, stratified_indices
from genreport.pipeline.core.progress import Progress
from genreport.pipeline.runs.stages import RunContext


def tuning_subset(data: Dataset, config: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified subsets of train and validation images for the search's trials."""
    rng = np.random.default_rng(config.data_seed + 7)
    train = stratified_indices(data.y_train, config.tune_train_limit, rng)
    val = stratified_indices(data.y_val, min(config.tune_val_limit, len(data.y_val)), rng)
    return data.x_train[train], data.x_val[val]


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

    from genreport.pipeline.search.distributed import grpc_target, parse_oracle_address, tuner_role, worker_hint
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
    from genreport.pipeline.search.tuner import TrialBudget

    return TrialBudget(kind=config.budget, first_flops=config.trial_flops, first_steps=config.trial_steps,
                       rate=config.halving_rate, batch_size=config.batch_size, patience=config.patience,
                       schedule=config.schedule, seed=config.seed)


def configured_search(config: RunConfig, data: Dataset, progress: Progress, worker_timeout: float | None = None) -> Any:
    """The search with the run's settings, on its tuning subset, in ``OUT/tuner`` (a chief passes ``worker_timeout``)."""
    from genreport.pipeline.core.environment import reseed
    from genreport.pipeline.training.precision import apply_policy, choose_policy, distribution_strategy
    from genreport.pipeline.search.runner import run_search

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
