"""Per-robot / per-dataset normalization: a lerobot processor step with one set of stats per group."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_act
from lerobot.policies.factory import make_pre_post_processors

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.deploy.errors import DeployError
from lerobot_multi.deploy.normalize import dataset_group_stats, install_group_normalization

ROBOTS = ["lab/arm_small", "lab/arm_big"]  # robot types arm_a and arm_b; actions around 0 and around 50


def normalized_actions(data_root, mode: str):
    ds = MultiLeRobotDataset(ROBOTS, root=data_root)
    cfg = tiny_act()
    cfg.input_features, cfg.output_features = {}, {}
    from lerobot.policies.factory import make_policy

    make_policy(cfg, ds_meta=ds.meta)  # fills the config's features from the dataset, as lerobot does
    pre, _ = make_pre_post_processors(cfg, dataset_stats=ds.meta.stats)
    if mode != "global":
        install_group_normalization(pre, _, *dataset_group_stats(ds, mode))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds))))
    out = pre(batch)
    return out["action"], batch["dataset_index"]


def test_per_robot_groups_are_mean0_std1_each(data_root):
    action, ds_index = normalized_actions(data_root, "per_robot")
    for g in (0, 1):
        rows = action[ds_index == g]
        torch.testing.assert_close(rows.mean(0), torch.zeros(6), atol=1e-4, rtol=0)
        torch.testing.assert_close(rows.std(0, unbiased=False), torch.ones(6), atol=1e-3, rtol=0)
    glob, ds_index = normalized_actions(data_root, "global")
    assert glob[ds_index == 1].mean() > 0.8 and glob[ds_index == 0].mean() < -0.8  # what per-robot avoids


def test_per_dataset_groups_and_unknown_group(data_root):
    ds = MultiLeRobotDataset(ROBOTS, root=data_root)
    repo_groups, stats = dataset_group_stats(ds, "per_dataset")
    assert repo_groups == {r: r for r in ROBOTS} and set(stats) == set(ROBOTS)
    cfg = tiny_act()
    from lerobot.policies.factory import make_policy

    make_policy(cfg, ds_meta=ds.meta)
    pre, post = make_pre_post_processors(cfg, dataset_stats=ds.meta.stats)
    install_group_normalization(pre, post, repo_groups, stats)
    with pytest.raises(DeployError, match=r"normalization group None is unknown: name one of the groups"):
        post(torch.zeros(1, 6))
