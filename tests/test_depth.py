"""Depth cameras in a mixture, as lerobot 0.6.1 reads them: depth video (dequantized) and depth images
(raw), each dataset's recorded unit converted to `depth_output_unit`, stats in that unit. The oracle is
lerobot's `LeRobotDataset(..., depth_output_unit=...)` on each dataset, frame by frame, for both
readers, the stream, and spawned DataLoader workers. lerobot 0.4.4 has no depth (test_read_errors.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from builders import build_dataset
from helpers import assert_reads_like, assert_same
from torch.utils.data import DataLoader, default_collate

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset, StreamingMultiLeRobotDataset
from lerobot_multi.compat import LINE

pytestmark = pytest.mark.skipif(not LINE.depth_maps, reason="depth cameras: lerobot 0.6 line only")
DEPTH, CAM = "observation.images.depth", "observation.images.top"
# repo_id -> (episode lengths, depth storage, recorded unit)
DATASETS = {
    "d/video_mm": ([6, 5], "video", "mm"),
    "d/image_m": ([5, 4], "image", "m"),
    "d/video_m": ([4], "video", "m"),
}
WINDOWS = {DEPTH: [-1 / 30, 0.0], "action": [0.0, 1 / 30]}


@pytest.fixture(scope="module")
def depth_root(tmp_path_factory):
    base = tmp_path_factory.mktemp("depth")
    for i, (rid, (lengths, storage, unit)) in enumerate(DATASETS.items()):
        build_dataset(base / rid, rid, lengths, depth=(DEPTH, storage, unit), seed=20 + i)
    build_dataset(base / "d/plain", "d/plain", [5], seed=30)
    return base


def lerobot_items(root, repo_id: str, unit: str, delta=None) -> list[dict]:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset(repo_id, root=root / repo_id, depth_output_unit=unit, delta_timestamps=delta)
    return [ds[i] for i in range(len(ds))]


def ours_of(item: dict) -> dict:
    return {k: v for k, v in item.items() if k != "dataset_index"}


@pytest.mark.parametrize("reader", ["fast", "lerobot"])
@pytest.mark.parametrize("unit", ["mm", "m"])
@pytest.mark.parametrize("repo_id", list(DATASETS))
def test_single_dataset_equals_lerobot(depth_root, repo_id, unit, reader):
    expected = lerobot_items(depth_root, repo_id, unit, WINDOWS)
    ds = MultiLeRobotDataset(
        repo_id, root=depth_root / repo_id, delta_timestamps=WINDOWS, depth_output_unit=unit, reader=reader
    )
    assert ds.meta.depth_keys == [DEPTH] and ds.depth_output_unit == unit
    indices = list(range(len(ds)))
    for i in indices:
        assert_same(ours_of(ds[i]), expected[i], (repo_id, unit, reader, i))
    batch = default_collate([ours_of(s) for s in ds.__getitems__(indices)])
    assert_same(batch, default_collate(expected), (repo_id, "batch"))
    assert expected[0][DEPTH].dtype == torch.float32 and expected[0][DEPTH].shape[-3] == 1


@pytest.mark.parametrize("unit", ["mm", "m"])
def test_mixture_of_units_and_storages(depth_root, unit):
    """Datasets recorded in millimetres and in metres, as video and as images, under one key: each
    dataset's frames and stats in the one output unit, as lerobot gives them for that dataset alone."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ids = list(DATASETS)
    ds = MultiLeRobotDataset(ids, root=depth_root, depth_output_unit=unit)
    offset = 0
    singles = [LeRobotDataset(r, root=depth_root / r, depth_output_unit=unit) for r in ids]
    for d, single in enumerate(singles):
        for j in range(len(single)):
            ours = ds[offset + j]
            assert torch.equal(ours[DEPTH], single[j][DEPTH]), (ids[d], j)
        offset += len(single)
    stats = ds.meta.stats[DEPTH]
    own = [s.meta.stats[DEPTH] for s in singles]  # lerobot rescales them to the output unit
    np.testing.assert_allclose(stats["min"], np.min([o["min"] for o in own], axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats["max"], np.max([o["max"] for o in own], axis=0), rtol=1e-6)
    counts = np.array([float(np.asarray(o["count"]).reshape(-1)[0]) for o in own])
    mean = sum(c * np.asarray(o["mean"]) for c, o in zip(counts, own)) / counts.sum()
    np.testing.assert_allclose(stats["mean"], mean, rtol=1e-5)
    metres = float(np.asarray(stats["min"]).min()) / (1000.0 if unit == "mm" else 1.0)
    assert 0.3 <= metres < 1.0  # the ramps start at 300 mm (+ a shift per dataset)


def test_stream_and_spawned_workers_equal_the_map(depth_root):
    ids = ["d/video_mm", "d/image_m"]
    ds = MultiLeRobotDataset(ids, root=depth_root, delta_timestamps=WINDOWS, depth_output_unit="m")
    expected = [ds[i] for i in range(len(ds))]
    stream = StreamingMultiLeRobotDataset(
        ids, root=depth_root, delta_timestamps=WINDOWS, depth_output_unit="m"
    )
    for item in stream:
        assert_same(item, expected[int(item["index"])], ("stream", int(item["index"])))
    loader = DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="spawn")
    batches = list(loader)
    assert_same(batches[0], default_collate(expected[:4]), "spawned workers")
    assert sum(len(b["index"]) for b in batches) == len(ds)
    assert_reads_like(ds, expected, list(range(len(ds))), "getitems")


def test_filled_depth_camera_and_transforms(depth_root):
    """A dataset without the depth camera gets float zeros in its shape and a mask; image transforms
    leave depth maps alone, as lerobot's reader does."""
    ds = MultiLeRobotDataset(["d/video_mm", "d/plain"], root=depth_root, fill_missing_cameras=True)
    plain = ds[ds.meta.frame_offsets[1]]
    assert plain[DEPTH].dtype == torch.float32 and plain[DEPTH].shape == (1, 32, 32)
    assert not plain[DEPTH].any() and bool(plain[f"{DEPTH}_pad_mask"])
    ds.set_image_transforms(lambda x: x * 0 - 1)
    item = ds[0]
    assert (item[CAM] == -1).all() and (item[DEPTH] > 0).all()


def test_depth_and_colour_under_one_key_is_an_error(depth_root):
    with pytest.raises(
        DatasetSourceError, match=r"'observation.images.top'.*depth map|depth map.*'observation.images.top'"
    ):
        MultiLeRobotDataset(
            ["d/video_mm", "d/plain"],
            root=depth_root,
            rename_map={"d/video_mm": {CAM: "observation.images.rgb", DEPTH: CAM}},
        )
    with pytest.raises(DatasetSourceError, match=r"dataset.depth_output_unit = 'cm'"):
        MultiLeRobotDataset(["d/video_mm"], root=depth_root, depth_output_unit="cm")
