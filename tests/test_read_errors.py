"""Bad input on the fast read path: an error naming the dataset, the file or field and what is wrong;
no file changes, nothing downloaded into a folder the user named."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import tree_hash

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset
from lerobot_multi.compat import LINE


def read_all(root, repo_id: str, **kw) -> None:
    ds = MultiLeRobotDataset([repo_id], root=root, **kw)
    ds.__getitems__(range(len(ds)))


def _drop_tasks(ds):
    (ds / "meta/tasks.parquet").unlink()


def _drop_data(ds):
    (ds / "data/chunk-000/file-000.parquet").unlink()


def _more_episodes(ds):
    info = json.loads((ds / "meta/info.json").read_text())
    info["total_episodes"] += 5
    (ds / "meta/info.json").write_text(json.dumps(info, indent=4))


def _no_episodes(ds):
    shutil.rmtree(ds / "meta/episodes")


@pytest.mark.parametrize(
    "damage, message",
    [
        (_drop_tasks, r"is incomplete: meta/tasks.parquet is missing"),
        (_drop_data, r"is incomplete: data file data/chunk-000/file-000.parquet is missing"),
        (
            _more_episodes,
            r"is incomplete: meta/episodes holds 2 episodes but meta/info.json says total_episodes=7",
        ),
        (_no_episodes, r"is incomplete: meta/episodes/ holds no parquet file"),
    ],
    ids=["tasks", "data", "total_episodes", "episodes"],
)
def test_incomplete_folder_is_an_error_not_a_download(copy_of, damage, message):
    root, ds = copy_of("lab/sess_c")
    damage(ds)
    before = tree_hash(ds)
    with pytest.raises(DatasetSourceError, match=rf"dataset 'lab/sess_c': .*{message}"):
        read_all(root, "lab/sess_c")
    assert tree_hash(ds) == before


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("fps", "30", r"field 'fps' must be a positive number, got '30'"),
        ("features", ["observation.state"], r"field 'features' must be a mapping"),
        ("total_episodes", 2.5, r"field 'total_episodes' must be an integer"),
    ],
)
def test_info_json_field_of_wrong_type(copy_of, field, value, message):
    root, ds = copy_of("lab/nocam")
    info = json.loads((ds / "meta/info.json").read_text())
    info[field] = value
    (ds / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetSourceError, match=rf"dataset 'lab/nocam': .*info.json: {message}"):
        read_all(root, "lab/nocam")


def _depth(features: dict) -> str:
    features["observation.images.top"].setdefault("info", {})["is_depth_map"] = True
    return r"feature 'observation.images.top' is a depth map .*depth cameras need lerobot 0.6"


def _language(features: dict) -> str:
    features["language_persistent"] = {"dtype": "language", "shape": [1], "names": None}
    return r"feature 'language_persistent' is a language column .*language columns need lerobot 0.6"


def on_044_only(mark, read_by_06: bool, where: str):
    return pytest.param(
        mark,
        id=mark.__name__.strip("_"),
        marks=pytest.mark.skipif(read_by_06, reason=f"lerobot 0.4.4 line only: 0.6 reads them ({where})"),
    )


@pytest.mark.parametrize(
    "mark",
    [
        on_044_only(_depth, LINE.depth_maps, "test_depth.py"),
        on_044_only(_language, LINE.language_columns, "test_language.py"),
    ],
)
def test_features_a_mixture_does_not_read_are_refused(copy_of, mark):
    """lerobot 0.4.4 has neither depth maps nor language columns: a clear error naming the line, not a
    silent wrong value or drop."""
    root, ds = copy_of("lab/sess_c")
    info = json.loads((ds / "meta/info.json").read_text())
    message = mark(info["features"])
    (ds / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetSourceError, match=rf"'lab/sess_c': {message}"):
        read_all(root, "lab/sess_c")


def test_bad_shape_in_info_json(copy_of):
    root, ds = copy_of("lab/nocam")
    info = json.loads((ds / "meta/info.json").read_text())
    info["features"]["action"]["shape"] = 6
    (ds / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetSourceError, match=r"field 'features.action.shape' must be a list"):
        read_all(root, "lab/nocam")


def test_video_frame_outside_tolerance(copy_of):
    """Timestamps shifted by 13 ms: the decoded frames lie outside tolerance_s (lerobot's 1e-4 s)."""
    root, ds = copy_of("lab/sess_c")
    path = ds / "data/chunk-000/file-000.parquet"
    table = pq.read_table(path)
    column = table.schema.get_field_index("timestamp")
    shifted = pc.add(table.column("timestamp"), pa.scalar(0.013, pa.float32()))
    pq.write_table(table.set_column(column, "timestamp", shifted), path)
    with pytest.raises(
        DatasetSourceError,
        match=r"dataset 'lab/sess_c': episode\(s\) \[0\], 'observation.images.top': reading .*"
        r"videos/observation.images.top/chunk-000/file-000.mp4 failed: .*(tolerance|timestamp)",
    ):
        ds_ = MultiLeRobotDataset(["lab/sess_c"], root=root)
        ds_[3]


def test_truncated_video(copy_of):
    root, ds = copy_of("lab/sess_b")
    video = ds / "videos/observation.images.top/chunk-000/file-000.mp4"
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 3])
    with pytest.raises(DatasetSourceError, match=r"dataset 'lab/sess_b': .*file-000.mp4"):
        read_all(root, "lab/sess_b")
