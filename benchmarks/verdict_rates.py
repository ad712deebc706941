"""False-verdict rates of genreport's comparisons under simulated nulls (no training; about half a minute).

- single-seed: two designs with equal expected SSIM, each trained model shifted by a seed effect;
  how often the image-level comparison calls a direction about these trained models (it should:
  the models do differ), and that its wording always carries the retrain clause;
- designs: three equal designs over S seeds; how often at least one of the three across-seed
  verdicts is not "no clear difference", with the family-widened intervals genreport uses and
  with plain 95% intervals;
- one t-interval: how often the seeds-and-images interval of one null difference excludes zero.

    python benchmarks/verdict_rates.py --output benchmarks/results/verdict-rates-<date>
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from genreport.pipeline.scoring.replicates import design_verdict
from genreport.pipeline.scoring.stats import paired_comparison, seeds_and_images_ci, with_holm_correction


def single_seed_calls(draws: int, seed_sd: float, images: int = 10_000) -> float:
    """Share of null comparisons of two trained models whose verdict names a direction."""
    rng = np.random.default_rng(3)
    called = 0
    for _ in range(draws):
        base = rng.normal(0.9, 0.05, images)
        first = base + rng.normal(0, seed_sd) + rng.normal(0, 0.002, images)
        second = base + rng.normal(0, seed_sd) + rng.normal(0, 0.002, images)
        verdict = with_holm_correction([dict(first="a", second="b", **paired_comparison(first, second, rng))])[0]["verdict"]
        called += verdict in ("higher", "lower")
    return called / draws


def family_rate(draws: int, seeds: int, family_size: int, seed_sd: float = 0.006) -> float:
    """Share of runs of three equal designs where any across-seed verdict is not 'no clear difference'."""
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(draws):
        images = rng.normal(0.9, 0.05, 500)
        designs = [images + rng.normal(0, seed_sd, seeds)[:, None] + rng.normal(0, 0.002, (seeds, 500)) for _ in range(3)]
        differences = [designs[1] - designs[0], designs[2] - designs[1], designs[2] - designs[0]]
        hits += any(design_verdict(d, family_size)[0] != "no clear difference" for d in differences)
    return hits / draws


def one_interval_rate(draws: int) -> float:
    """Share of null differences over three seeds whose seeds-and-images 95% interval excludes zero."""
    rng = np.random.default_rng(21)
    misses = 0
    for _ in range(draws):
        diff = rng.normal(0, 0.005, 3)[:, None] + rng.normal(0, 0.02, 500)[None, :] + rng.normal(0, 0.002, (3, 500))
        low, high = seeds_and_images_ci(diff)
        misses += low > 0 or high < 0
    return misses / draws


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="folder for rates.json (refused if it exists)")
    parser.add_argument("--draws", type=int, default=2000)
    args = parser.parse_args()
    if args.output.exists():
        print(f"{args.output} exists; choose another folder", file=sys.stderr)
        return 2
    record = {
        "draws": args.draws,
        "single_seed_direction_called": {f"seed_sd_{sd}": single_seed_calls(200, sd) for sd in (0.004, 0.008)},
        "single_seed_draws": 200,
        "three_equal_designs_any_verdict": {
            f"S={s}": {"family_widened": family_rate(args.draws, s, 3), "plain_95": family_rate(args.draws, s, 1)} for s in (2, 3, 5)},
        "one_interval_excludes_zero": one_interval_rate(args.draws),
    }
    args.output.mkdir(parents=True)
    (args.output / "rates.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
