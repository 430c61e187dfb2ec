"""Exported datasets: rows, the folder a hub can take, its card, statistics and plots."""

from kgsynth.export.hub import DatasetError, read_dataset, read_rejects

__all__ = ["DatasetError", "read_dataset", "read_rejects"]
