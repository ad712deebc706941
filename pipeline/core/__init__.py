"""Settings, errors, progress events, locks, file writing, the machine, signals and file ownership: what every stage uses."""
