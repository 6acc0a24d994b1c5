"""pytest plugin: run lerobot's own dataset tests with each dataset they read opened as a one-dataset
`MultiLeRobotDataset` on the same folder (lerobot's `LeRobotDataset` still writes and creates it).

    cd <lerobot checkout at the release tag> && \\
      PYTHONPATH=<this folder> python -m pytest -p mixture_plugin tests/datasets/<file>.py

Every `LeRobotDataset(...)` call in the test modules and lerobot's test fixtures first runs lerobot's
own constructor (so the fixtures' mocked downloads write the files), then returns the mixture over that
folder with the same reading arguments. `LeRobotDataset.create`, `isinstance` targets and the other
class attributes stay lerobot's. Differences are listed in docs/lerobot-lines.md ("lerobot's tests").
"""

from __future__ import annotations

import sys

import lerobot.datasets.lerobot_dataset as lerobot_dataset_module

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.compat import LINE

REAL = lerobot_dataset_module.LeRobotDataset
READ_ARGS = ("episodes", "delta_timestamps", "image_transforms", "tolerance_s", "video_backend")


class _Forward(type):
    """Class attributes (create, resume, ...) are lerobot's; calls open the mixture."""

    def __getattr__(cls, name):
        return getattr(REAL, name)

    def __instancecheck__(cls, obj):
        return isinstance(obj, REAL)

    def __call__(cls, repo_id, root=None, *args, **kwargs):
        real = REAL(repo_id, root, *args, **kwargs)
        if args or real.meta.total_episodes == 0:  # positional reading arguments: keep lerobot's
            return real
        reading = {k: kwargs[k] for k in READ_ARGS if k in kwargs}
        if LINE.training_frames_uint8 and "return_uint8" in kwargs:
            reading["return_uint8"] = kwargs["return_uint8"]
        return MultiLeRobotDataset(repo_id, root=real.root, **reading)


class LeRobotDatasetAsMixture(metaclass=_Forward):
    pass


def pytest_collection_modifyitems(session, config, items):
    for name, module in list(sys.modules.items()):
        if name.startswith("tests.") and getattr(module, "LeRobotDataset", None) is REAL:
            module.LeRobotDataset = LeRobotDatasetAsMixture
