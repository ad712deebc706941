"""How far a per-class interval can be trusted with few test images a class.

For ten classes whose images all score alike (every SSIM drawn from one distribution), draws
each class's images many times and reports, per number of images a class:

- the share of classes whose percentile-bootstrap 95% interval (``stats.bootstrap_mean_ci``, the
  report's per-class interval) covers the distribution's true mean;
- the share of draws in which ``verdicts.extreme_classes``, given those intervals, names a
  hardest or an easiest class (it should name none: the classes are alike).

Two distributions of per-image SSIM: normal (mean 0.92, sd 0.04) and a left-skewed Beta(20, 2)
(mean 0.909), like a model's SSIM with a tail of badly reconstructed images.

With ``--merged``, the interval a merge of seeds gives a class instead (``stats.seeds_and_images_ci``
of the class's seeds x images matrix): the class's images are drawn once and shared by every
seed, each seed adds its own offset (sd 0.005) and each cell its own noise (sd 0.002); the share of
draws whose interval covers the true class mean, per number of seeds and images a class.

    python benchmarks/class_intervals.py --draws 300 > OUT.txt
    python benchmarks/class_intervals.py --merged --draws 2000 > OUT-merged.txt
"""

from __future__ import annotations

import argparse

import numpy as np

from genreport.pipeline.scoring.stats import bootstrap_mean_ci, seeds_and_images_ci
from genreport.pipeline.scoring.verdicts import extreme_classes

DISTRIBUTIONS = {
    "normal(0.92, 0.04)": (lambda rng, n: rng.normal(0.92, 0.04, n), 0.92),
    "beta(20, 2)": (lambda rng, n: rng.beta(20, 2, n), 20 / 22),
}


def rates(draw, true_mean: float, images: int, draws: int, seed: int) -> tuple[float, float]:
    """(interval coverage of the true mean, share of draws naming a hardest or easiest class)."""
    rng = np.random.default_rng([seed, images])
    covered, named = 0, 0
    for _ in range(draws):
        rows = []
        for label in range(10):
            values = draw(rng, images)
            low, high = bootstrap_mean_ci(values, rng)
            covered += low <= true_mean <= high
            rows.append({"class_name": str(label), "mean": float(values.mean()), "ci95": [low, high]})
        extremes = extreme_classes(rows)
        named += bool(extremes["hardest"] or extremes["easiest"])
    return covered / (10 * draws), named / draws


def merged_coverage(draw, true_mean: float, seeds: int, images: int, draws: int, seed: int) -> float:
    """Share of draws whose across-seed class interval covers the true class mean."""
    rng = np.random.default_rng([seed, seeds, images])
    covered = 0
    for _ in range(draws):
        shared = draw(rng, images)  # the class's test images, scored by every seed
        matrix = shared[None, :] + rng.normal(0, 0.005, (seeds, 1)) + rng.normal(0, 0.002, (seeds, images))
        low, high = seeds_and_images_ci(matrix)
        covered += low <= true_mean <= high
    return covered / draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--merged", action="store_true", help="the interval of a merge of seeds instead")
    args = parser.parse_args()
    if args.merged:
        print(f"one class, seed offsets sd 0.005, cell noise sd 0.002, {args.draws} draws each, seed {args.seed}")
        print("distribution | seeds | images a class | interval covers the mean")
        for name, (draw, true_mean) in DISTRIBUTIONS.items():
            for seeds in (2, 3, 5, 10, 20):
                for images in (5, 10, 20, 50):
                    print(f"{name} | {seeds} | {images} | {merged_coverage(draw, true_mean, seeds, images, args.draws, args.seed):.3f}")
        return
    print(f"ten alike classes, {args.draws} draws each, seed {args.seed}")
    print("distribution | images a class | interval covers the mean | draws naming a class")
    for name, (draw, true_mean) in DISTRIBUTIONS.items():
        for images in (1, 2, 3, 4, 5, 10, 20, 50):
            coverage, named = rates(draw, true_mean, images, args.draws, args.seed)
            print(f"{name} | {images} | {coverage:.3f} | {named:.3f}")


if __name__ == "__main__":
    main()
