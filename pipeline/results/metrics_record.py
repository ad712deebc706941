"""The records of ``metrics.json``: every model's and baseline's figures, the comparisons, replicates (schema in ``schema``)."""

from __future__ import annotations

import dataclasses

from genreport.pipeline.results.records import JSON, Interval, Record, record
from genreport.pipeline.results.run_record import Choice


@record
class MetricSummary(Record):
    """One metric over the test images: its distribution and (SSIM) the bootstrap 95% interval of its mean."""

    mean: float
    std: float
    median: float
    p5: float
    min: float
    max: float
    count: int
    ci95: Interval | None = None


@record
class ClassFigures(Record):
    """One class's mean SSIM for one model, over that class's test images."""

    label: int
    class_name: str
    mean: float
    std: float
    count: int
    ci95: Interval | None = None


@record
class ScoringFacts(Record):
    """How a model's images went in and came out."""

    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    pixel_range: tuple[float, float]
    clipped_share: float


@record
class ModelSummary(Record):
    """A model's (or a baseline's) figures: SSIM under both windows, MSE, PSNR, per class."""

    ssim: MetricSummary
    ssim_gaussian: MetricSummary
    mse: MetricSummary
    psnr: MetricSummary
    per_class: tuple[ClassFigures, ...]
    reference_ssim: float | None = None  # its published figure, where genreport vouches for it
    scoring: ScoringFacts | None = None


@record
class Comparison(Record):
    """``second - first`` over the test images: mean difference, interval, Wilcoxon test, win shares, verdict."""

    first: str
    second: str
    mean_difference: float
    ci_low: float
    ci_high: float
    wilcoxon_p: float
    second_wins: float
    first_wins: float
    ties: float
    rank_direction: int | None = None  # older results: recomputed from the per-image table
    wilcoxon_p_holm: float | None = None
    family_size: int | None = None
    claim: str | None = None
    interval_covers: str | None = None
    verdict: str | None = None
    mean_direction: int | None = None
    interval_direction: int | None = None


@record
class ClassMean(Record):
    """A class's mean SSIM over the models, with its interval."""

    class_name: str
    mean: float
    ci95: Interval


@record
class ClassExtremes(Record):
    """The hardest and easiest class where an interval sets one apart, else the classes tied with it."""

    classes: tuple[ClassMean, ...]
    hardest: str | None
    easiest: str | None
    hardest_mean: float | None
    easiest_mean: float | None
    hardest_ties: tuple[str, ...]
    easiest_ties: tuple[str, ...]
    # What the intervals cover; None in results from before 2026-12-07, whose merges judged classes
    # on intervals across seeds alone.
    interval_covers: str | None = None


@record
class PublishedComparison(Record):
    """A model's mean SSIM under both windows against its published figure, with each interval's verdict."""

    model: str
    published: float
    uniform: float
    uniform_difference: float
    beats_uniform: bool
    gaussian: float
    gaussian_difference: float
    beats_gaussian: bool
    uniform_ci95: Interval | None = None
    gaussian_ci95: Interval | None = None
    uniform_verdict: str | None = None
    gaussian_verdict: str | None = None
    claim: str | None = None
    interval_covers: str | None = None


@record
class CostPoint(Record):
    """A model or baseline on the quality-against-cost chart."""

    name: str
    baseline: bool
    mean: float
    ci95: Interval | None
    params: int | None
    flops: float | None


@record
class QualityCost(Record):
    """Every point, each cost's Pareto front (names, cheapest first) and what each cost counts."""

    points: tuple[CostPoint, ...]
    front: dict[str, tuple[str, ...]]
    costs: dict[str, str]


@record
class SeedFigures(Record):
    """One metric's mean per seed and across seeds, with the interval over seeds and test images."""

    per_seed: dict[str, float]
    mean: float
    std: float
    ci95: Interval


@record
class ReplicatedModel(Record):
    ssim: SeedFigures
    ssim_gaussian: SeedFigures
    reference_ssim: float | None = None


@record
class SeedDifference(Record):
    seed: int
    mean_difference: float
    wilcoxon_p: float
    wilcoxon_p_holm: float | None = None
    family_size: int | None = None


@record
class ReplicatedComparison(Record):
    """``second - first`` across seeds: the verdict on the designs, from the family-widened interval."""

    first: str
    second: str
    mean_difference: float
    ci_low: float
    ci_high: float
    seeds_same_order: int
    seeds: int
    verdict: str
    per_seed: tuple[SeedDifference, ...]
    family_ci_low: float | None = None
    family_ci_high: float | None = None
    family_size: int | None = None
    family_level: float | None = None
    claim: str | None = None
    interval_covers: str | None = None
    bimodal_seeds: bool = False


@record
class ReplicatedClass(Record):
    class_name: str
    mean: float
    std: float
    count: int
    ci95: Interval | None = None


@record
class Replicates(Record):
    """The across-seed block of merged results."""

    seeds: tuple[int, ...]
    first_seed: int
    search: str
    models: dict[str, ReplicatedModel]
    comparisons: tuple[ReplicatedComparison, ...]
    per_class: dict[str, tuple[ReplicatedClass, ...]]
    interval: str
    tuning: tuple[Choice, ...] = ()
    searches_differ: bool = False
    class_extremes: ClassExtremes | None = None
    multiple_comparisons: str | None = None


@record
class Metrics(Record):
    """``metrics.json``: every model's and baseline's figures, the comparisons, and how SSIM was computed."""

    test_images: int
    models: dict[str, ModelSummary]
    comparisons: tuple[Comparison, ...]
    ssim_method: dict[str, JSON]
    gaussian_ssim_method: dict[str, JSON]
    reference_ssim: dict[str, float]
    baselines: dict[str, ModelSummary] = dataclasses.field(default_factory=dict)
    published: tuple[PublishedComparison, ...] = ()
    multiple_comparisons: str | None = None
    claim: str | None = None
    interval_covers: str | None = None
    class_extremes: ClassExtremes | None = None
    quality_cost: QualityCost | None = None
    replicates: Replicates | None = None
    seeds: tuple[int, ...] | None = None
    schema_version: int | None = None
    genreport: dict[str, JSON] | None = None
