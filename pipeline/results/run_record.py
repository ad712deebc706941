"""The records of ``run.json``: settings, data, machine, stages, every model's record and the search (schema in ``schema``)."""

from __future__ import annotations

import dataclasses

from genreport.pipeline.models.catalogue import Design
from genreport.pipeline.results.records import JSON, Record, record


@record
class Choice(Record):
    """A design the search chose (or a seed's choice): activation, units, optimizer."""

    seed: int | None = None
    activation: str
    units: int
    optimizer: str

    @property
    def design(self) -> Design:
        return Design(self.activation, self.units, self.optimizer)


@record
class Stage(Record):
    name: str
    seconds: float
    peak_rss_gib: float | None = None


@record
class DataRecord(Record):
    """Where the data came from: its folder, the four files' digests, the split sizes."""

    source_dir: str | None
    digests: dict[str, str]
    sizes: dict[str, int]


@record
class LayerRow(Record):
    name: str
    type: str
    output_shape: str
    params: int


@record
class StepPlan(Record):
    """The training budget a model was given, in work: FLOPs or epochs, and the steps that buys."""

    kind: str
    planned_steps: int
    steps_per_epoch: int
    budget_flops: float | None = None
    step_flops: float | None = None
    planned_epochs: float | None = None


@record
class TrainingRecord(Record):
    """How a model trained: its loss history, the work done, the time it took and why it stopped."""

    history: dict[str, tuple[float | None, ...]]
    epochs_run: int
    seconds: float
    stopped_by: str | None = None
    best_epoch: int | None = None
    fractional_epochs: float | None = None
    images_per_second: float | None = None
    steps_run: int | None = None
    flops: float | None = None
    gflops_per_second: float | None = None
    budget: StepPlan | None = None
    resumed_from_epoch: int | None = None

    def best_val_loss(self) -> float | None:
        losses = [v for v in self.history.get("val_loss", ()) if v is not None]
        return min(losses) if losses else None


@record
class FlopsCount(Record):
    counted: tuple[str, ...]
    left_out: tuple[str, ...]


@record
class ModelRecord(Record):
    """A scored model: its architecture and size, and for genreport's own its training record."""

    params: int | None = None
    layers: tuple[LayerRow, ...] = ()
    variant: str | None = None
    genreport_variant: str | None = None  # the variant genreport's manifest vouches this file is
    hyperparameters: dict[str, JSON] | None = None
    training: TrainingRecord | None = None
    policy: str | None = None
    forward_flops: float | None = None
    flops_count: FlopsCount | None = None
    file: str | None = None
    sha256: str | None = None

    def variant_of(self, name: str) -> str | None:
        """Which of genreport's variants this model (scored as ``name``) is, or None for a model it did not train."""
        if self.genreport_variant is not None or "genreport_variant" in (self.json_keys or ()):  # an explicit null: not genreport's
            return self.genreport_variant
        return name if self.training is not None else None


@record
class TrialRow(Record):
    """One search trial: its design, rung, work, result and time."""

    rank: int
    trial_id: str
    rung: int
    activation: str | None
    units: int | None
    optimizer: str | None
    val_loss: float | None
    steps: int | None = None
    epochs: float | None = None
    flops: float | None = None
    val_flops: float | None = None
    budget_flops: float | None = None
    stopped_by: str | None = None
    gflops_per_second: float | None = None
    seconds: float | None = None
    worker: str = ""
    status: str | None = None

    @property
    def design(self) -> Design | None:
        """The trial's design (None for a trial whose values were not recorded)."""
        return Design(self.activation, self.units, self.optimizer) if None not in (self.activation, self.units, self.optimizer) else None


@record
class GridCell(Record):
    """One combination of the search space and its result on the highest rung it reached (None: never run)."""

    activation: str
    units: int
    optimizer: str
    val_loss: float | None
    rung: int | None
    steps: int | None = None
    flops: float | None = None

    @property
    def design(self) -> Design:
        return Design(self.activation, self.units, self.optimizer)


@record
class SearchSettings(Record):
    algorithm: str
    rungs: int
    rate: int
    rung_sizes: tuple[int, ...]
    budget: str
    first_rung_flops: float | None = None
    first_rung_steps: int | None = None
    max_trials: int | None = None
    trial_images: int | None = None
    validation_images: int | None = None
    batch_size: int | None = None
    schedule: str | None = None
    objective: str | None = None
    seed: int | None = None


@record
class SearchRecord(Record):
    """The hyper-parameter search: its space, settings, every trial and the choice."""

    best: Choice
    trials: tuple[TrialRow, ...]
    combinations: int
    tried: int
    space: dict[str, tuple[JSON, ...]]
    settings: SearchSettings
    grid: tuple[GridCell, ...] = ()
    seconds: float | None = None
    mean_image_val_loss: float | None = None
    last_rung_fraction: float | None = None


@record
class ReplicateRun(Record):
    seed: int
    started: str | None = None
    finished: str | None = None
    stages: tuple[Stage, ...] | None = None
    tuning_best: Choice | None = None


@record
class RecordedSettings(Record):
    """The run's settings (``RunConfig.to_dict()``) as written: the few the report reads typed, every one kept in order.

    A setting an older genreport did not have stays absent (it is never filled with today's
    default), so the report and a merge see what the run recorded.
    """

    OPEN = True  # every other setting is kept, in its place, in extras

    preset: str | None = None
    budget: str | None = None
    schedule: str | None = None
    train_tflop: float | None = None
    epochs: int | None = None
    max_minutes: float | None = None
    seed: int | None = None


@record
class RunRecord(Record):
    """``run.json``: how the results were made (settings, data, machine, stages) and every model's record."""

    mode: str
    config: RecordedSettings
    class_names: tuple[str, ...]
    data: DataRecord
    machine: dict[str, JSON]
    started: str
    finished: str
    stages: tuple[Stage, ...]
    command_line: str = ""
    policy: str | None = None
    threads: int | None = None
    training_seed: int | None = None
    fingerprint: dict[str, JSON] | None = None
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    models: dict[str, ModelRecord] = dataclasses.field(default_factory=dict)
    tuning: SearchRecord | None = None
    seeds: tuple[int, ...] | None = None
    replicate_folders: tuple[str, ...] | None = None
    replicate_runs: tuple[ReplicateRun, ...] | None = None
    schema_version: int | None = None
    genreport: dict[str, JSON] | None = None
