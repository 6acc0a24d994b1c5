"""LeRobot v2.1 datasets read in place, beside v3.0 ones: the oracle is lerobot's own
`convert_dataset_v21_to_v30` of a copy, read by lerobot's `LeRobotDataset`.

The fixtures (tests/fixtures/v21) were written by lerobot 0.3.3's writer (tests/fixtures/make_v21_fixtures.py).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from conftest import tree_hash
from helpers import V21_FIXTURES, assert_reads_like, convert_v21_copy, run, train_cmd
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from torch.utils.data import DataLoader, default_collate

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset, StreamingMultiLeRobotDataset
from lerobot_multi.inspect.info_table import mixture_report
from lerobot_multi.train.manifest import fingerprint

IDS = ["v21/state", "v21/video", "v21/image"]
CAM = "observation.images.top"
DELTAS = {
    "none": None,
    "act_chunk": {"action": [i / 30 for i in range(16)]},
    "past": {"observation.state": [-2 / 30, -1 / 30, 0.0], CAM: [-1 / 30, 0.0], "action": [0.0, 1 / 30]},
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    base = tmp_path_factory.mktemp("v30")
    return {rid: convert_v21_copy(rid, base) for rid in IDS}


@pytest.fixture(autouse=True)
def fixtures_unchanged():
    before = tree_hash(V21_FIXTURES)
    yield
    assert tree_hash(V21_FIXTURES) == before  # read in place: nothing written, converted or cached


def _deltas(rid: str, name: str):
    dt = DELTAS[name]
    return dt if dt is None or rid != "v21/state" else {k: v for k, v in dt.items() if k != CAM}


@pytest.mark.parametrize("delta", list(DELTAS))
@pytest.mark.parametrize("rid", IDS, ids=["state", "video", "image"])
def test_samples_equal_lerobots_conversion(converted, rid, delta):
    dt = _deltas(rid, delta)
    ours = MultiLeRobotDataset([rid], root=V21_FIXTURES, delta_timestamps=dt)
    ref = LeRobotDataset(rid, root=converted[rid], delta_timestamps=dt, video_backend=ours.video_backend)
    assert ours.meta.sub_metas[0].codebase_version == "v2.1" and len(ours) == len(ref)
    indices = list(range(len(ref)))
    assert_reads_like(
        ours, [{**ref[i], "dataset_index": torch.tensor(0)} for i in indices], indices, (rid, delta)
    )


@pytest.mark.parametrize("rid", ["v21/state", "v21/video"])
def test_selection_equals_lerobots_conversion(converted, rid):
    dt = _deltas(rid, "past")
    ours = MultiLeRobotDataset([rid], root=V21_FIXTURES, episodes={rid: [1]}, delta_timestamps=dt)
    ref = LeRobotDataset(rid, root=converted[rid], episodes=[1], delta_timestamps=dt)
    indices = list(range(len(ref)))
    expected = [{**ref[i], "dataset_index": torch.tensor(0)} for i in indices]
    # global renumbering: the one selected episode is episode 0 of the mixture, its frames 0..n-1
    for item in expected:
        item["episode_index"] = torch.tensor(0)
        item["index"] = item["index"] - ref.meta.episodes[1]["dataset_from_index"]
    assert_reads_like(ours, expected, indices, rid)


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_batches_equal_lerobots_conversion(converted, workers):
    rid, dt = "v21/video", _deltas("v21/video", "past")
    ours = MultiLeRobotDataset([rid], root=V21_FIXTURES, delta_timestamps=dt)
    ref = LeRobotDataset(rid, root=converted[rid], delta_timestamps=dt, video_backend=ours.video_backend)
    for b, batch in enumerate(DataLoader(ours, batch_size=4, num_workers=workers)):
        indices = range(4 * b, min(4 * b + 4, len(ref)))
        expected = default_collate([{**ref[i], "dataset_index": torch.tensor(0)} for i in indices])
        assert set(batch) == set(expected)
        for key, value in expected.items():
            assert value == batch[key] if isinstance(value, list) else torch.equal(value, batch[key]), (
                b,
                key,
            )


def test_stats_are_numpy_over_the_frames():
    ds = MultiLeRobotDataset(["v21/state", "v21/image"], root=V21_FIXTURES)
    frames = {
        key: np.concatenate(
            [
                np.stack(pq.read_table(p).column(key).to_numpy(zero_copy_only=False))
                for rid in ("v21/state", "v21/image")
                for p in sorted((V21_FIXTURES / rid / "data").glob("*/*.parquet"))
            ]
        )
        for key in ("observation.state", "action")
    }
    for key, x in frames.items():
        stats = ds.stats[key]
        np.testing.assert_allclose(stats["min"], x.min(0), rtol=1e-6)
        np.testing.assert_allclose(stats["max"], x.max(0), rtol=1e-6)
        np.testing.assert_allclose(stats["mean"], x.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats["std"], x.std(0), rtol=1e-4, atol=1e-6)
        assert int(np.asarray(stats["count"]).reshape(-1)[0]) == len(x)


@pytest.fixture
def mixed_roots(data_root):
    return {"v21/state": str(V21_FIXTURES / "v21/state"), "lab/arm_small": str(data_root / "lab/arm_small")}


def test_mixture_of_v21_and_v30_with_options(mixed_roots):
    ids = list(mixed_roots)
    ds = MultiLeRobotDataset(
        ids,
        root=mixed_roots,
        episodes={"v21/state": [0, 2]},
        weights=[1, 3],
        normalization_mode="per_robot",
        condition_on="dataset",
        rename_map={"v21/state": {"observation.environment_state": "observation.env"}},
        fill_missing_cameras=False,
    )
    assert ds.num_episodes == 2 + 2 and ds.repo_id_to_index == {"v21/state": 0, "lab/arm_small": 1}
    assert "observation.env" not in ds.features  # renamed in one dataset only: not common, disabled
    item = ds[0]
    assert item["observation.state"].shape == (6 + 2,) and item["observation.state"][6:].tolist() == [
        1.0,
        0.0,
    ]
    report = mixture_report(ds.meta)
    assert [r["format"] for r in report["datasets"]] == ["v2.1", "v3.0"]
    padded = MultiLeRobotDataset(ids, root=mixed_roots, pad_vectors=True)
    assert padded[0]["observation.state"].shape == (6,)


def test_v21_with_mixed_fps(data_root):
    """v2.1 at 30 fps beside v3.0 at 15 fps: each dataset resolves the same frame offsets with its own fps."""
    roots = {"v21/state": str(V21_FIXTURES / "v21/state"), "lab/fps15": str(data_root / "lab/fps15")}
    ds = MultiLeRobotDataset(list(roots), root=roots, mixed_fps=True)
    ds.set_delta_indices({"action": [0, 1, 2]})
    assert ds.delta_timestamps_by_dataset["lab/fps15"]["action"] == [0, 1 / 15, 2 / 15]
    first, last = ds[0], ds[len(ds) - 1]
    assert first["action"].shape == last["action"].shape == (3, 6)
    assert int(first["dataset_index"]) == 0 and int(last["dataset_index"]) == 1


def test_manifest_fingerprint_covers_v21_metadata(tmp_path):
    copy = tmp_path / "v21/state"
    shutil.copytree(V21_FIXTURES / "v21/state", copy)
    before = fingerprint(copy)
    stats = copy / "meta/episodes_stats.jsonl"
    stats.write_text(stats.read_text().replace('"count": [8]', '"count": [9]', 1))
    assert fingerprint(copy) != before


def test_streaming_and_lerobot_reader_refuse_v21_naming_it():
    with pytest.raises(DatasetSourceError, match=r"\['v21/state'\] are LeRobot v2.1: streaming"):
        StreamingMultiLeRobotDataset(["v21/state"], root=V21_FIXTURES)
    with pytest.raises(DatasetSourceError, match=r"\['v21/state'\] are LeRobot v2.1.*reader='fast'"):
        MultiLeRobotDataset(["v21/state"], root=V21_FIXTURES, reader="lerobot")


@pytest.fixture
def damaged(tmp_path):
    def make(rid: str):
        dst = tmp_path / "copies" / rid
        shutil.copytree(V21_FIXTURES / rid, dst)
        return tmp_path / "copies", dst

    return make


def _read_all(root, rid):
    ds = MultiLeRobotDataset([rid], root=root)
    return ds.__getitems__(list(range(len(ds))))


def test_bad_v21_folders_are_clear_errors(damaged):
    root, ds = damaged("v21/video")
    (ds / "data/chunk-000/episode_000001.parquet").unlink()
    with pytest.raises(
        DatasetSourceError, match=r"'v21/video'.*data file data/chunk-000/episode_000001.parquet is missing"
    ):
        _read_all(root, "v21/video")
    root, ds = damaged("v21/state")
    (ds / "meta/episodes_stats.jsonl").unlink()
    with pytest.raises(DatasetSourceError, match=r"'v21/state'.*meta/episodes_stats.jsonl is missing"):
        _read_all(root, "v21/state")


def test_missing_video_and_incomplete_stats(damaged):
    root, ds = damaged("v21/video")
    (ds / "videos/chunk-000/observation.images.top/episode_000000.mp4").unlink()
    with pytest.raises(DatasetSourceError, match=r"'v21/video': episode 0: video file .*episode_000000.mp4"):
        _read_all(root, "v21/video")
    root, ds = damaged("v21/state")
    path = ds / "meta/episodes_stats.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    del rows[1]["stats"]["action"]
    path.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n")  # episode 2 left out, 1 incomplete
    with pytest.raises(
        DatasetSourceError, match=r"'v21/state'.*episodes_stats.jsonl has no stats for episodes \[2\]"
    ):
        _read_all(root, "v21/state")
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(DatasetSourceError, match=r"episode 1 lacks min/max/mean/std/count for 'action'"):
        _read_all(root, "v21/state")


def test_wrong_length_and_unknown_task(damaged):
    root, ds = damaged("v21/state")
    path = ds / "data/chunk-000/episode_000001.parquet"
    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows - 2), path)
    with pytest.raises(
        DatasetSourceError,
        match=r"'v21/state'.*episode 1: 10 frames in data/, 12 in the metadata.*episode_000001",
    ):
        _read_all(root, "v21/state")
    root, ds = damaged("v21/image")
    (ds / "meta/tasks.jsonl").write_text('{"task_index": 1, "task": "other"}\n')
    with pytest.raises(
        DatasetSourceError, match=r"'v21/image'.*episode 0 has tasks \['stack'\].*tasks.jsonl"
    ):
        _read_all(root, "v21/image")


def test_v20_is_an_error_naming_the_converter(damaged):
    root, ds = damaged("v21/state")
    info = json.loads((ds / "meta/info.json").read_text())
    info["codebase_version"] = "v2.0"
    (ds / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(
        DatasetSourceError, match=r"'v21/state': codebase_version is 'v2.0'.*convert_dataset_v20_to_v21"
    ):
        _read_all(root, "v21/state")


def test_mixed_v21_v30_trains_and_reloads_in_stock_lerobot(mixed_roots, tmp_path):
    out = tmp_path / "run"
    roots = "{" + ", ".join(f"{k}: {v}" for k, v in mixed_roots.items()) + "}"
    args = [
        f"--dataset.repo_id=[{','.join(mixed_roots)}]",
        f"--dataset.root={roots}",
        "--dataset.normalization_mode=per_robot",
    ]
    run(train_cmd(*args, "--steps=2", f"--output_dir={out}"), cwd=tmp_path)
    ckpt = out / "checkpoints/last/pretrained_model"
    code = (
        "from lerobot.policies.act.modeling_act import ACTPolicy; "
        f"p = ACTPolicy.from_pretrained({str(ckpt)!r}); print(type(p).__name__)"
    )
    import sys

    assert run([sys.executable, "-c", code], cwd=tmp_path).stdout.strip().endswith("ACTPolicy")
