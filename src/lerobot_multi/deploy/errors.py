"""The error of what a checkpoint carries: a checkpoint, an export target or an inference input that
does not fit the trained mixture (a dataset's own problems are `DatasetSourceError`)."""

from __future__ import annotations


class DeployError(ValueError):
    """A checkpoint, an export folder or an observation at inference does not fit the trained mixture."""
