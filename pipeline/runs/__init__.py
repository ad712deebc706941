"""The pipelines a user runs: full, full --seeds, eval-only, and resuming."""
