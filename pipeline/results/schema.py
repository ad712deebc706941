"""The results contract: every record of ``metrics.json`` and ``run.json``, typed, named in one place.

Schema 3. The records are declared in ``metrics_record`` and ``run_record`` (two files so that each
stays short) and built on ``records``; import them from here. The writer passes what it saves through these records (``Metrics.from_json(...).to_json()``),
and ``render`` reads them back the same way, so ``report/`` reads attributes, never string keys.
Schema 2 results (genreport before this contract) are migrated on load (``pipeline.results.migrate``).
A model is any name: ``Metrics.models`` and ``RunRecord.models`` map each model's name to its record,
and the comparisons the report makes are data (``Metrics.comparisons``); which models a ``full``
run builds is ``pipeline.models.catalogue``'s business, not the schema's.
"""

from __future__ import annotations

from genreport.pipeline.results.metrics_record import (MetricSummary, ClassFigures, ScoringFacts, ModelSummary, Comparison,
    ClassMean, ClassExtremes, PublishedComparison, CostPoint, QualityCost, SeedFigures, ReplicatedModel, SeedDifference,
    ReplicatedComparison, ReplicatedClass, Replicates, Metrics)
from genreport.pipeline.results.run_record import (Choice, Stage, DataRecord, LayerRow, StepPlan, TrainingRecord, FlopsCount,
    ModelRecord, TrialRow, GridCell, SearchSettings, SearchRecord, ReplicateRun, RecordedSettings, RunRecord)

SCHEMA_VERSION = 3

__all__ = [
    "SCHEMA_VERSION", "MetricSummary", "ClassFigures", "ScoringFacts", "ModelSummary", "Comparison", "ClassMean",
    "ClassExtremes", "PublishedComparison", "CostPoint", "QualityCost", "SeedFigures", "ReplicatedModel", "SeedDifference",
    "ReplicatedComparison", "ReplicatedClass", "Replicates", "Metrics", "Choice", "Stage", "DataRecord", "LayerRow", "StepPlan",
    "TrainingRecord", "FlopsCount", "ModelRecord", "TrialRow", "GridCell", "SearchSettings", "SearchRecord", "ReplicateRun",
    "RecordedSettings", "RunRecord"
]
