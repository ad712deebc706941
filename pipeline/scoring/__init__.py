"""Per-image metrics, statistics, baselines, verdicts, replicates and quality against cost; the metrics payload."""
