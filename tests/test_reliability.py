"""Faults and more bad inputs: corrupt files, bad stats, bad configs, and a killed training run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import draccus
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import tree_hash
from helpers import TINY_ACT
from safetensors.numpy import load_file

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset, MultiTrainPipelineConfig


@pytest.fixture
def copies(data_root, tmp_path):
    """Copies of datasets to damage, under tmp_path/copies/<repo_id>."""

    def make(*repo_ids: str):
        for rid in repo_ids:
            shutil.copytree(data_root / rid, tmp_path / "copies" / rid)
        return tmp_path / "copies"

    return make


def open_multi(root, repo_ids=("lab/sess_a", "lab/sess_c"), **kw):
    return MultiLeRobotDataset(list(repo_ids), root=root, video_backend="pyav", **kw)


def test_truncated_parquet_names_the_dataset(copies):
    root = copies("lab/sess_a", "lab/sess_c")
    data = next((root / "lab/sess_c/data").glob("*/*.parquet"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    before = tree_hash(root)
    with pytest.raises(
        DatasetSourceError,
        match=r"dataset 'lab/sess_c': cannot read .*data/chunk-000/file-000.parquet: Parquet magic bytes",
    ):
        open_multi(root)[29]  # data files are read when the dataset's frame store opens
    assert tree_hash(root) == before


def test_missing_video_file_names_repo_episode_and_file(copies):
    root = copies("lab/sess_a", "lab/sess_c")
    video = next((root / "lab/sess_c/videos").rglob("*.mp4"))
    video.unlink()
    before = tree_hash(root)
    with pytest.raises(
        DatasetSourceError, match=r"dataset 'lab/sess_c': episode 0: video file videos/.*\.mp4 .* is missing"
    ):
        open_multi(root)
    assert tree_hash(root) == before and not (root / "lab/sess_c/.cache").exists()


def test_corrupt_video_fails_at_first_access_with_context(copies):
    root = copies("lab/sess_a", "lab/sess_c")
    video = next((root / "lab/sess_c/videos").rglob("*.mp4"))
    video.write_bytes(b"not a video" * 100)
    ds = open_multi(root)
    ds[0]  # sess_a is fine
    with pytest.raises(
        DatasetSourceError,
        match=r"dataset 'lab/sess_c': episode\(s\) \[0\], 'observation.images.top': reading .*\.mp4 failed",
    ):
        ds[29]


def test_episode_metadata_disagreeing_with_data(copies):
    """Samples take their global episode from meta/episodes: a layout the data contradicts is an error."""
    root = copies("lab/sess_a", "lab/sess_c")
    path = next((root / "lab/sess_c/meta/episodes").glob("*/*.parquet"))
    table = pq.read_table(path)
    lengths = table.column("length").to_pylist()  # [8, 11]: swap them, the total stays 19
    table = table.set_column(table.schema.get_field_index("length"), "length", pa.array(lengths[::-1]))
    pq.write_table(table, path)
    before = tree_hash(root)
    with pytest.raises(
        DatasetSourceError,
        match=r"dataset 'lab/sess_c': frame 8 of data/ has episode_index 1 but meta/episodes .* puts episode 0",
    ):
        open_multi(root)[29]  # the frame store of sess_c opens (and checks) at its first read
    assert tree_hash(root) == before


def test_missing_stats_json(copies):
    root = copies("lab/sess_a", "lab/sess_c")
    (root / "lab/sess_c/meta/stats.json").unlink()
    with pytest.raises(DatasetSourceError, match=r"dataset 'lab/sess_c': meta/stats.json is missing"):
        open_multi(root)


@pytest.mark.parametrize("bad", ["NaN", "Infinity"])
def test_non_finite_stats(copies, bad):
    root = copies("lab/sess_a", "lab/sess_c")
    path = root / "lab/sess_c/meta/stats.json"
    stats = json.loads(path.read_text())
    stats["action"]["std"][2] = float(bad.replace("Infinity", "inf"))
    path.write_text(json.dumps(stats))
    with pytest.raises(
        DatasetSourceError, match=r"dataset 'lab/sess_c': stats for 'action'/std contain NaN or inf"
    ):
        open_multi(root)


def test_info_features_disagree_with_parquet(copies):
    root = copies("lab/sess_a", "lab/sess_c")
    path = root / "lab/sess_c/meta/info.json"
    info = json.loads(path.read_text())
    info["features"]["observation.velocity"] = {"dtype": "float32", "shape": [3], "names": None}
    path.write_text(json.dumps(info))
    with pytest.raises(
        DatasetSourceError,
        match=r"dataset 'lab/sess_c': meta/info.json declares features \['observation.velocity'\] that data/.*parquet does not hold",
    ):
        open_multi(root)[29]  # checked when sess_c's frame store opens, at its first read


@pytest.mark.parametrize(
    ("yaml_dataset", "match"),
    [
        ("repo_id: [a/b, 5]", "every entry must be a string"),
        (
            "repo_id: [a/b, c/d]\n  episodes: {a/b: oops}",
            r"`dataset.episodes`: Could not decode the value",
        ),
        ("repo_id: [a/b, c/d]\n  normalization_mode: per_robo", "normalization_mode = 'per_robo'"),
        ("repo_id: a/b\n  weights: [1, 2]", "need a list of datasets"),
    ],
)
def test_yaml_with_wrong_types(tmp_path, yaml_dataset, match):
    path = tmp_path / "bad.yaml"
    path.write_text(f"dataset:\n  {yaml_dataset}\npolicy:\n  type: act\n")
    # ours are DatasetSourceError; a value draccus cannot decode is draccus's own DecodingError
    with pytest.raises((DatasetSourceError, draccus.utils.DecodingError), match=match):
        cfg = MultiTrainPipelineConfig.from_yaml(path)
        MultiLeRobotDataset(cfg.dataset.repo_id, episodes=cfg.dataset.episodes)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text(
        "dataset:\n  repo_id: !!python/object/apply:os.system ['touch pwned']\npolicy:\n  type: act\n"
    )
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do, as long as nothing runs
        MultiTrainPipelineConfig.from_yaml(path)
    assert not (tmp_path / "pwned").exists() and not os.path.exists("pwned")


def _train(out, data_root, steps, extra=()):
    args = [
        sys.executable, "-m", "lerobot_multi.scripts.train", *TINY_ACT,
        "--dataset.repo_id=[lab/sess_a,lab/sess_c]", f"--dataset.root={data_root}", "--dataset.weights=[1,2]",
        f"--steps={steps}", "--save_freq=2", "--num_workers=0", "--seed=7", f"--output_dir={out}", *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        args,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow  # end-to-end; `make test-slow`
def test_sigkill_then_resume_matches_an_uninterrupted_run(data_root, tmp_path):
    full = _train(tmp_path / "full", data_root, 4)
    assert full.wait(timeout=3600) == 0, full.stdout.read()[-3000:]
    killed = _train(tmp_path / "killed", data_root, 4, ["--log_freq=1"])
    ckpt = tmp_path / "killed/checkpoints/000002/training_state/mixture_sampler.json"
    deadline = time.time() + 300
    while not ckpt.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert ckpt.exists()
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    shutil.rmtree(tmp_path / "killed/checkpoints/000004", ignore_errors=True)  # it may have got further
    (tmp_path / "killed/checkpoints/last").unlink()
    (tmp_path / "killed/checkpoints/last").symlink_to("000002")
    cfg = tmp_path / "killed/checkpoints/last/pretrained_model/train_config.json"
    resumed = subprocess.run(
        [sys.executable, "-m", "lerobot_multi.scripts.train", f"--config_path={cfg}", "--resume=true"],
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Mixture sampler resumed at stream position 8" in resumed.stdout + resumed.stderr
    # the sample stream continues exactly: same sampler state at the end of both runs
    state = "checkpoints/000004/training_state/mixture_sampler.json"
    assert json.loads((tmp_path / "full" / state).read_text()) == json.loads(
        (tmp_path / "killed" / state).read_text()
    )
    # bit for bit: the seam restores the RNG state again after the DataLoader iterator's seed draw
    a = load_file(str(tmp_path / "full/checkpoints/000004/pretrained_model/model.safetensors"))
    b = load_file(str(tmp_path / "killed/checkpoints/000004/pretrained_model/model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_failing_read_in_a_worker_names_the_dataset(copies):
    import torch

    root = copies("lab/sess_a", "lab/sess_c")
    video = next((root / "lab/sess_c/videos").rglob("*.mp4"))
    video.write_bytes(b"not a video" * 100)
    ds = open_multi(root)
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, [29]), batch_size=1, num_workers=1)
    with pytest.raises(DatasetSourceError, match=r"dataset 'lab/sess_c': episode\(s\) \[0\].* failed"):
        next(iter(loader))
