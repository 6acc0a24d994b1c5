"""`on_error: skip`: a dataset that cannot be opened or validated is left out and reported (log,
lerobot-multi-info, mixture.json); more than `max_skipped` of them stops the run."""

from __future__ import annotations

import logging
import shutil

import pytest
import torch

from lerobot_multi import MultiDatasetConfig, MultiLeRobotDataset
from lerobot_multi.inspect.info_table import mixture_report
from lerobot_multi.meta.sources import DatasetSourceError
from lerobot_multi.train.manifest import build_manifest

IDS = ["lab/sess_a", "lab/sess_b", "lab/broken"]


@pytest.fixture
def roots(data_root, tmp_path):
    """Two good datasets and one whose info.json is cut short (as a failed upload leaves it)."""
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copytree(data_root / "lab/sess_c", broken / "lab/broken")
    info = broken / "lab/broken/meta/info.json"
    info.write_text(info.read_text()[:100])
    return {
        "lab/sess_a": data_root / "lab/sess_a",
        "lab/sess_b": data_root / "lab/sess_b",
        "lab/broken": broken / "lab/broken",
    }


def test_a_broken_dataset_stops_the_mixture_by_default(roots):
    with pytest.raises(DatasetSourceError, match=r"'lab/broken'.*info.json is not valid JSON"):
        MultiLeRobotDataset(IDS, root=roots)


def test_skip_leaves_it_out_and_reports_it(roots, data_root, caplog):
    with caplog.at_level(logging.WARNING):
        ds = MultiLeRobotDataset(IDS, root=roots, on_error="skip", max_skipped=0.5, weights={"*": 1.0})
    assert ds.repo_ids == IDS[:2] and [s.index for s in ds.meta.sources] == [0, 1]
    assert [s.repo_id for s in ds.meta.skipped] == ["lab/broken"] and "not valid JSON" in ds.meta.skipped[
        0
    ].reason
    assert "'lab/broken' left out (dataset.on_error=skip)" in caplog.text
    whole = MultiLeRobotDataset(IDS[:2], root=data_root)
    assert len(ds) == len(whole) and torch.equal(ds[len(ds) - 1]["action"], whole[len(ds) - 1]["action"])
    assert build_manifest(ds, None)["skipped"][0]["repo_id"] == "lab/broken"
    assert mixture_report(ds.meta)["skipped"] == [
        {"repo_id": "lab/broken", "reason": ds.meta.skipped[0].reason}
    ]


def test_more_than_max_skipped_is_an_error_listing_them(roots):
    with pytest.raises(
        DatasetSourceError, match=r"1 of 3 datasets could not be opened, more than dataset.max_skipped=0.1"
    ):
        MultiLeRobotDataset(IDS, root=roots, on_error="skip")
    with pytest.raises(DatasetSourceError, match="dataset.on_error = 'ignore'"):
        MultiDatasetConfig(repo_id="[a,b]", on_error="ignore")
