"""The results folder: written as one set, read back defensively."""
