"""`exclude_episodes` (lerobot main's `DatasetConfig` field) per dataset, with the rules of `episodes`:
repo ids or patterns, a plain list for one dataset, ids checked against the dataset."""

from __future__ import annotations

import pytest
import torch
from conftest import SAME
from helpers import TINY_ACT, assert_same
from lerobot.configs.train import TrainPipelineConfig
from lerobot.datasets.factory import make_dataset as lerobot_make_dataset
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.compat import LINE
from lerobot_multi.config import MultiDatasetConfig, MultiTrainPipelineConfig
from lerobot_multi.factory import make_dataset
from lerobot_multi.meta.sources import DatasetSourceError
from lerobot_multi.meta.spec import MixtureSpec

DELTA = {"action": [0.0, 1 / 30, 2 / 30]}
RENUMBERED = {"index", "episode_index", "dataset_index"}  # the mixture numbers episodes globally


def test_exclusions_read_as_the_same_selection_given_by_episodes(data_root):
    excluded = MultiLeRobotDataset(
        SAME,
        root=data_root,
        episodes={"lab/sess_b": [0, 1, 3]},
        exclude_episodes={"lab/sess_*": [1], "lab/sess_c": [0]},  # a pattern rule, and one repo's own
        delta_timestamps=DELTA,
    )
    chosen = {"lab/sess_a": [0, 2], "lab/sess_b": [0, 3], "lab/sess_c": None}
    assert excluded.selected_episodes == {**chosen, "lab/sess_c": [1]}
    given = MultiLeRobotDataset(
        SAME, root=data_root, episodes={**chosen, "lab/sess_c": [1]}, delta_timestamps=DELTA
    )
    assert len(excluded) == len(given) == 10 + 12 + 5 + 4 + 11
    for i in range(0, len(given), 5):
        assert_same(excluded[i], given[i], i)


def test_a_plain_list_excludes_from_a_single_dataset_as_lerobot(data_root):
    ours = MultiLeRobotDataset(["lab/sess_a"], root=data_root, exclude_episodes=[1], delta_timestamps=DELTA)
    ref = LeRobotDataset("lab/sess_a", root=data_root / "lab/sess_a", episodes=[0, 2], delta_timestamps=DELTA)
    assert len(ours) == len(ref) == 22
    for i in range(len(ref)):
        got, expected = ours[i], ref[i]
        assert set(got) - {"dataset_index"} == set(expected)
        for key in set(expected) - RENUMBERED:
            value = expected[key]
            assert torch.equal(got[key], value) if isinstance(value, torch.Tensor) else got[key] == value
        assert ours.meta.sources[0].episodes == (0, 2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"exclude_episodes": {"lab/sess_a": [3]}},
            r"exclude_episodes\['lab/sess_a'\]: episode ids \[3\] out of range",
        ),
        (
            {"exclude_episodes": {"lab/sess_c": [0, 1]}},
            r"'lab/sess_c': dataset.exclude_episodes leaves no episode",
        ),
        (
            {"episodes": {"lab/sess_a": [1]}, "exclude_episodes": {"lab/sess_a": [1]}},
            r"'lab/sess_a': dataset.exclude_episodes leaves no episode",
        ),
        ({"exclude_episodes": [0]}, r"dataset.exclude_episodes: a plain list of episode ids is ambiguous"),
        (
            {"exclude_episodes": {"lab/robot_*": [0]}},
            r"dataset.exclude_episodes: patterns \['lab/robot_\*'\] match no",
        ),
        (
            {"exclude_episodes": {"lab/sess_a": "0"}},
            r"dataset.exclude_episodes\['lab/sess_a'\]: expected a list",
        ),
    ],
)
def test_bad_exclusions_name_the_dataset_and_field(data_root, options, message):
    with pytest.raises(DatasetSourceError, match=message):
        MultiLeRobotDataset(SAME, root=data_root, **options)


def test_the_config_field_parses_per_dataset(data_root):
    cfg = MultiDatasetConfig(
        repo_id="[lab/sess_a,lab/sess_c]", root=str(data_root), exclude_episodes="{lab/sess_*: [0]}"
    )
    assert cfg.exclude_episodes == {"lab/sess_*": [0]}
    dataset = MultiLeRobotDataset.from_spec(MixtureSpec.from_config(cfg))
    assert dataset.selected_episodes == {"lab/sess_a": [1, 2], "lab/sess_c": [1]}


def _single(data_root, exclude, config_class=MultiTrainPipelineConfig, dataset_class=MultiDatasetConfig):
    import draccus

    args = [*TINY_ACT, "--dataset.repo_id=lab/sess_a", f"--dataset.root={data_root / 'lab/sess_a'}"]
    cfg = draccus.parse(config_class, args=args)
    cfg.dataset.exclude_episodes = exclude
    return cfg


@pytest.mark.skipif("exclude_episodes" in LINE.dataset_config_fields, reason="lerobot main has the field")
def test_a_single_repo_id_refuses_exclusions_lerobot_would_ignore(data_root):
    with pytest.raises(
        DatasetSourceError, match=r"dataset.exclude_episodes with the single dataset 'lab/sess_a'"
    ):
        make_dataset(_single(data_root, [1]))


@pytest.mark.skipif("exclude_episodes" not in LINE.dataset_config_fields, reason="lerobot main's field")
def test_a_single_repo_id_is_lerobot_mains_own_exclusion(data_root):
    ours = make_dataset(_single(data_root, {"lab/sess_a": [1]}))
    stock = lerobot_make_dataset(_single(data_root, [1], TrainPipelineConfig))
    assert type(ours) is type(stock) is LeRobotDataset
    assert ours.episodes == stock.episodes == [0, 2]
    for i in (0, 9, len(stock) - 1):
        assert_same(ours[i], stock[i], i)


@pytest.mark.skipif("repo_type" in LINE.dataset_config_fields, reason="lerobot 0.6 streams buckets itself")
def test_a_single_repo_id_bucket_is_refused_where_lerobot_has_none(data_root):
    cfg = _single(data_root, None)
    cfg.dataset.repo_type = "bucket"
    with pytest.raises(DatasetSourceError, match=r"dataset.repo_type with the single dataset 'lab/sess_a'"):
        make_dataset(cfg)
