"""The fast reader gives lerobot's samples, key by key: dtype, shape and value.

Oracles: lerobot's own `LeRobotDataset` on the same folder (single datasets), and the mixture read
through lerobot (`reader="lerobot"`: every sample from `LeRobotDataset.__getitem__`, itself checked
against lerobot's `aggregate_datasets` in test_oracle.py) for selections, mixtures and schema options.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SAME, tree_hash
from helpers import assert_reads_like, assert_same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lerobot.configs.default import DatasetConfig
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from torch.utils.data import DataLoader, default_collate

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.compat import LINE, ImageTransforms, lerobot_dataset_options

CAM = "observation.images.top"
DELTAS = {
    "none": None,
    "past_future": {"observation.state": [-2 / 30, -1 / 30, 0.0], "action": [-1 / 30, 0.0, 1 / 30, 2 / 30]},
    "act_chunk_100": {"action": [i / 30 for i in range(100)]},
    "diffusion": {
        "observation.state": [-1 / 30, 0.0],
        CAM: [-1 / 30, 0.0],
        "action": [(i - 1) / 30 for i in range(16)],
    },
}


@pytest.fixture(autouse=True)
def disk_unchanged(data_root):
    before = tree_hash(data_root)
    yield
    assert tree_hash(data_root) == before


UINT8 = [
    False,
    pytest.param(
        True,
        marks=pytest.mark.skipif(
            not LINE.training_frames_uint8, reason="return_uint8: lerobot 0.6 line only"
        ),
    ),
]


@pytest.mark.parametrize("uint8", UINT8, ids=["float", "uint8"])
@pytest.mark.parametrize("delta", list(DELTAS))
@pytest.mark.parametrize(
    "repo_id", ["lab/sess_a", "lab/images", "lab/nocam"], ids=["video", "image", "state"]
)
def test_single_dataset_equals_lerobot(data_root, repo_id, delta, uint8):
    dt = DELTAS[delta]
    if dt is not None and repo_id == "lab/nocam":
        dt = {k: v for k, v in dt.items() if k != CAM}
    ours = MultiLeRobotDataset([repo_id], root=data_root, delta_timestamps=dt, return_uint8=uint8)
    ref = LeRobotDataset(
        repo_id,
        root=data_root / repo_id,
        delta_timestamps=dt,
        video_backend=ours.video_backend,
        **lerobot_dataset_options(uint8),
    )
    indices = list(range(len(ref)))
    expected = [{**ref[i], "dataset_index": torch.tensor(0)} for i in indices]
    assert_reads_like(ours, expected, indices, (repo_id, delta))


def test_pyav_backend_equals_lerobot(data_root):
    dt = DELTAS["diffusion"]
    ours = MultiLeRobotDataset(["lab/sess_b"], root=data_root, delta_timestamps=dt, video_backend="pyav")
    ref = LeRobotDataset(
        "lab/sess_b", root=data_root / "lab/sess_b", delta_timestamps=dt, video_backend="pyav"
    )
    indices = list(range(0, len(ref), 3))
    assert_reads_like(ours, [{**ref[i], "dataset_index": torch.tensor(0)} for i in indices], indices, "pyav")


MIXTURES = {
    "selection": dict(
        repo_ids=SAME, episodes={"lab/sess_a": [2, 0], "lab/sess_b": [1, 3]}, delta="diffusion"
    ),
    "mixed_fps": dict(repo_ids=["lab/sess_a", "lab/fps15"], mixed_fps=True, delta_indices=[-1, 0, 1, 2]),
    "rename": dict(
        repo_ids=["lab/sess_a", "lab/fixedcam"],
        rename_map={"lab/fixedcam": {"observation.images.fixed": CAM}},
        delta="diffusion",
    ),
    "padding": dict(repo_ids=["lab/sess_c", "lab/wide"], pad_vectors=True, delta="past_future"),
    "filled_camera": dict(repo_ids=["lab/sess_b", "lab/nocam"], fill_missing_cameras=True, delta="diffusion"),
    "video_and_images": dict(repo_ids=["lab/images", "lab/sess_c"], delta="diffusion"),
    "images_and_video": dict(repo_ids=["lab/sess_c", "lab/images"]),
    "disabled": dict(repo_ids=["lab/extra", "lab/sess_a"], delta="act_chunk_100"),
}


def open_pair(data_root, case: str, **kw) -> tuple[MultiLeRobotDataset, MultiLeRobotDataset]:
    spec = dict(MIXTURES[case])
    repo_ids, delta, steps = spec.pop("repo_ids"), spec.pop("delta", None), spec.pop("delta_indices", None)
    pair = []
    for reader in ("fast", "lerobot"):
        ds = MultiLeRobotDataset(
            repo_ids,
            root=data_root,
            delta_timestamps=DELTAS[delta] if delta else None,
            reader=reader,
            **spec,
            **kw,
        )
        if steps is not None:
            ds.set_delta_indices({"action": steps, CAM: steps})
        pair.append(ds)
    return pair[0], pair[1]


@pytest.mark.parametrize("case", list(MIXTURES))
def test_mixture_equals_lerobot_reader(data_root, case):
    fast, ref = open_pair(data_root, case)
    assert len(fast) == len(ref)
    rng = np.random.default_rng(0)
    indices = rng.permutation(len(fast))[:40].tolist()
    assert_reads_like(fast, [ref[i] for i in indices], indices, case)


def test_image_transforms_draw_as_lerobot(data_root):
    cfg = DatasetConfig(repo_id="x").image_transforms
    cfg.enable, cfg.max_num_transforms, cfg.random_order = True, 3, True
    fast, ref = open_pair(data_root, "video_and_images", image_transforms=ImageTransforms(cfg))
    indices = [3, 17, 0, 25, 9]
    torch.manual_seed(7)
    got = default_collate(fast.__getitems__(indices))
    torch.manual_seed(7)
    expected = default_collate([ref[i] for i in indices])
    assert_same(got, expected, "batch")
    assert not torch.equal(got[CAM][0], fast[3][CAM])  # the transform is random


@pytest.mark.parametrize(("workers", "context"), [(0, None), (2, "fork"), (2, "spawn")])
def test_dataloader_batches_equal_lerobot_reader(data_root, workers, context):
    """Spawned workers are lerobot 0.6's default: the mixture pickles and opens its stores in each."""
    fast, ref = open_pair(data_root, "filled_camera")
    loader = DataLoader(fast, batch_size=8, num_workers=workers, multiprocessing_context=context)
    for b, batch in enumerate(loader):
        indices = range(8 * b, min(8 * b + 8, len(ref)))
        assert_same(batch, default_collate([ref[i] for i in indices]), b)


@pytest.mark.skipif(
    not LINE.training_frames_uint8, reason="return_uint8 and spawned workers: lerobot 0.6 line only"
)
@pytest.mark.parametrize("workers", [0, 2])
def test_spawned_uint8_batches_equal_lerobot(data_root, workers):
    """lerobot 0.6's training defaults on one folder: uint8 frames, spawned workers, ACT-like windows."""
    dt = DELTAS["diffusion"]
    ours = MultiLeRobotDataset(["lab/sess_b"], root=data_root, delta_timestamps=dt, return_uint8=True)
    ref = LeRobotDataset(
        "lab/sess_b",
        root=data_root / "lab/sess_b",
        delta_timestamps=dt,
        video_backend=ours.video_backend,
        return_uint8=True,
    )
    context = "spawn" if workers else None
    ours_batches = DataLoader(ours, batch_size=8, num_workers=workers, multiprocessing_context=context)
    ref_batches = DataLoader(ref, batch_size=8, num_workers=workers, multiprocessing_context=context)
    for b, (got, expected) in enumerate(zip(ours_batches, ref_batches, strict=True)):
        assert got[CAM].dtype == torch.uint8
        assert_same(got, {**expected, "dataset_index": torch.zeros(len(got["index"]), dtype=torch.int64)}, b)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offsets=st.lists(st.integers(-12, 12), min_size=1, max_size=6, unique=True),
    keep_a=st.sets(st.integers(0, 1), min_size=1),
    keep_b=st.sets(st.integers(0, 4), min_size=1),
    picks=st.lists(st.integers(0, 10**6), min_size=1, max_size=12),
)
def test_property_random_windows_and_selections(data_root, offsets, keep_a, keep_b, picks):
    """Random windows (past and future, beyond episode ends) and selections over episodes of 5-25 frames."""
    repo_ids = ["lab/arm_small", "lab/nocam", "lab/arm_big"]
    episodes = {"lab/arm_small": sorted(keep_a), "lab/nocam": sorted(keep_b & {0, 1}) or None}
    dt = {"action": [o / 30 for o in sorted(offsets)], "observation.state": [o / 30 for o in offsets[:2]]}
    fast, ref = (
        MultiLeRobotDataset(repo_ids, root=data_root, episodes=episodes, delta_timestamps=dt, reader=r)
        for r in ("fast", "lerobot")
    )
    indices = [p % len(fast) for p in picks]
    assert_reads_like(fast, [ref[i] for i in indices], indices, "property")


@pytest.mark.parametrize("reader", ["fast", "lerobot"])
def test_slices_are_lists_of_samples(data_root, reader):
    """`ds[a:b]` is the list of `ds[i]` (lerobot 0.6's slices), negative and stepped bounds included."""
    ds = MultiLeRobotDataset(SAME, root=data_root, delta_timestamps=DELTAS["past_future"], reader=reader)
    for cut in (slice(3, 9), slice(-4, None), slice(0, 20, 7)):
        got = ds[cut]
        indices = list(range(*cut.indices(len(ds))))
        assert len(got) == len(indices)
        for i, item in zip(indices, got):
            assert_same(item, ds[i], (cut, i))


def test_fast_reader_opens_no_lerobot_dataset(data_root):
    # the reader option through a config: tests/test_spec.py
    with pytest.raises(AttributeError, match="reader='lerobot'"):
        _ = MultiLeRobotDataset(["lab/sess_a"], root=data_root).datasets


def test_no_decode_thread_outlives_its_batch(data_root):
    """Decoding threads live for one batch: a thread kept alive after running torch ops keeps an OpenMP
    team, which made a training step beside it run 2x slower (benchmarks/bench_vla.py)."""
    import threading

    ds = MultiLeRobotDataset(SAME, root=data_root, delta_timestamps={CAM: [-1 / 30, 0.0]})
    batch = ds.__getitems__([0, len(ds) // 2, len(ds) - 1])  # frames of three datasets' video files
    assert len(batch) == 3 and all(item[CAM].shape[0] == 2 for item in batch)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("lerobot-multi-video")]
