"""Run in a spawned child (tests/test_architecture.py): which heavy modules a DataLoader worker imports
to unpickle a mixture and read from it. Standard library only, so the probe itself imports nothing."""

from __future__ import annotations

import pickle
import sys

HEAVY = ("lerobot.processor", "lerobot.datasets", "lerobot.configs", "datasets", "torchvision")


def worker_imports(payload: bytes, indices: list[int], queue) -> None:
    dataset = pickle.loads(payload)
    dataset.__getitems__(indices)
    imported = [m for m in HEAVY if m in sys.modules]
    from lerobot.processor.pipeline import ProcessorStepRegistry

    import lerobot_multi.normalize  # noqa: F401  (registers the steps' 0.1.0 names here too)

    queue.put((imported, "lerobot_multi_group_normalizer" in ProcessorStepRegistry.list()))
