"""Budgets counted in work, the fit loop and its callbacks, and the per-epoch backup a killed training resumes from."""
