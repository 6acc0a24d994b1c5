"""Run in spawned DataLoader workers (tests/test_architecture.py): which heavy modules a worker has
imported once it has unpickled a mixture. Standard library only, so the probe itself imports nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HEAVY = ("lerobot.processor", "lerobot.datasets", "lerobot.configs", "datasets", "torchvision")


def record_imports(folder: str, worker_id: int) -> None:
    """A `worker_init_fn` (with `functools.partial`): the heavy modules imported so far, then whether
    importing lerobot_multi.normalize registers the steps' 0.1.0 names here too."""
    imported = [m for m in HEAVY if m in sys.modules]
    from lerobot.processor.pipeline import ProcessorStepRegistry

    import lerobot_multi.normalize  # noqa: F401

    registered = "lerobot_multi_group_normalizer" in ProcessorStepRegistry.list()
    (Path(folder) / f"worker{worker_id}.json").write_text(json.dumps([imported, registered]))
