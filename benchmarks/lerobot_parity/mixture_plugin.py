"""pytest plugin: run lerobot's own dataset tests with each dataset they read opened as a one-dataset
`MultiLeRobotDataset` on the same folder (lerobot's `LeRobotDataset` still writes and creates it).

    cd <lerobot checkout at the release tag> && \\
      PYTHONPATH=<this folder> python -m pytest -p mixture_plugin tests/datasets/<file>.py

Every `LeRobotDataset(...)` call in the test modules and lerobot's test fixtures first runs lerobot's
own constructor (so the fixtures' mocked downloads write the files), then returns the mixture over that
folder with every argument the call gave, positional ones included. An argument the mixture does not
take is a failure (the test fails with a TypeError naming it), except those that only say how lerobot
downloads or records, passed with lerobot's default value (`AT_DEFAULT`). `LeRobotDataset.create`,
`isinstance` targets and the other class attributes stay lerobot's. Differences are listed in
docs/lerobot-lines.md ("lerobot's own dataset tests").
"""

from __future__ import annotations

import inspect
import sys

import lerobot.datasets.lerobot_dataset as lerobot_dataset_module

from lerobot_multi import MultiLeRobotDataset

REAL = lerobot_dataset_module.LeRobotDataset
PARAMETERS = list(inspect.signature(REAL.__init__).parameters)[1:]  # after self
# download and recording settings: no effect on reading a folder on disk, at lerobot's default value
AT_DEFAULT = {
    name: p.default
    for name, p in inspect.signature(REAL.__init__).parameters.items()
    if name
    in (
        "force_cache_sync",
        "download_videos",
        "batch_encoding_size",
        "rgb_encoder",
        "depth_encoder",
        "encoder_threads",
        "streaming_encoding",
        "encoder_queue_maxsize",
        "token",
    )
}


class _Forward(type):
    """Class attributes (create, resume, ...) are lerobot's; calls open the mixture."""

    def __getattr__(cls, name):
        return getattr(REAL, name)

    def __instancecheck__(cls, obj):
        return isinstance(obj, REAL)

    def __call__(cls, *args, **kwargs):
        real = REAL(*args, **kwargs)
        if real.meta.total_episodes == 0:  # an empty dataset being recorded: lerobot's writer
            return real
        given = {**dict(zip(PARAMETERS, args)), **kwargs}
        given.pop("root", None)
        repo_id = given.pop("repo_id")
        for name, default in AT_DEFAULT.items():
            if name in given and given[name] == default:
                given.pop(name)
        return MultiLeRobotDataset(repo_id, root=real.root, **given)


class LeRobotDatasetAsMixture(metaclass=_Forward):
    pass


def pytest_collection_modifyitems(session, config, items):
    for name, module in list(sys.modules.items()):
        if name.startswith("tests.") and getattr(module, "LeRobotDataset", None) is REAL:
            module.LeRobotDataset = LeRobotDatasetAsMixture
