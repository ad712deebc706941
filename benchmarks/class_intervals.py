"""How far a per-class interval can be trusted with few test images a class.

For ten classes whose images all score alike (every SSIM drawn from one distribution), draws
each class's images many times and reports, per number of images a class:

- the share of classes whose percentile-bootstrap 95% interval (``stats.bootstrap_mean_ci``, the
  report's per-class interval) covers the distribution's true mean;
- the share of draws in which ``verdicts.extreme_classes``, given those intervals, names a
  hardest or an easiest class (it should name none: the classes are alike).

Two distributions of per-image SSIM: normal (mean 0.92, sd 0.04) and a left-skewed Beta(20, 2)
(mean 0.909), like a model's SSIM with a tail of badly reconstructed images.

    python benchmarks/class_intervals.py --draws 300 > OUT.txt
"""

from __future__ import annotations

import argparse

import numpy as np

from genreport.pipeline.scoring.stats import bootstrap_mean_ci
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"ten alike classes, {args.draws} draws each, seed {args.seed}")
    print("distribution | images a class | interval covers the mean | draws naming a class")
    for name, (draw, true_mean) in DISTRIBUTIONS.items():
        for images in (1, 2, 3, 4, 5, 10, 20, 50):
            coverage, named = rates(draw, true_mean, images, args.draws, args.seed)
            print(f"{name} | {images} | {coverage:.3f} | {named:.3f}")


if __name__ == "__main__":
    main()
