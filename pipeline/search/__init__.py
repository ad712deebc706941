"""The KerasTuner search of the tuned variant: the grid-and-halving oracle, the tuner, and distributed workers."""
