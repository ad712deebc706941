"""A distributed search worker: runs trials for a chief's oracle until the search ends."""

from __future__ import annotations

from genreport.pipeline.core.config import RunConfig
from genreport.pipeline.core.environment import pin_threads, seed_everything
from genreport.pipeline.core.progress import Lines, Progress
from genreport.pipeline.runs.search_stage import configured_search
from genreport.pipeline.runs.stages import load_data


def run_tune_worker(config: RunConfig, oracle: str, worker_id: str, progress: Progress | Lines = print, wait_seconds: float = 30.0) -> None:
    """Run search trials for the chief at ``oracle`` until it says the search is over.

    The worker shares nothing with the chief but the oracle connection and the data set: it
    loads the same data at the same preset and seed, and keeps its trial files in
    ``config.output``.
    """
    from genreport.pipeline.search.distributed import check_worker_id, grpc_target, parse_oracle_address, tuner_role, wait_for_chief
    from genreport.pipeline.core.lock import output_lock
    from genreport.pipeline.core.claims import claim_run_folder
    from genreport.pipeline.training.precision import apply_policy, choose_policy

    host, port = parse_oracle_address(oracle)
    check_worker_id(worker_id)
    wait_for_chief(host, port, wait_seconds)
    with output_lock(config.output):
        claim_run_folder(config.output, ("tuner", "logs"), make=("tuner", "logs"))
        pin_threads()
        seed_everything(config.seed)
        apply_policy(choose_policy(config.precision))
        data = load_data(config)
        progress(f"worker {worker_id}: connected to {grpc_target(host, port)}")
        with tuner_role(f"tuner-{worker_id}", host, port):
            configured_search(config, data, progress)
        progress(f"worker {worker_id}: the chief ended the search")
