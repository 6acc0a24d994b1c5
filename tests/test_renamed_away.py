"""Two cases of community-shaped mixtures that gave wrong results (issue: a community pretraining mix):
a camera renamed away is no longer read under its old name, and per-robot normalization has stats for
every key the mixture keeps, a filled camera included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.deploy.normalize import dataset_group_stats
from lerobot_multi.factory import apply_imagenet_stats

TOP, WRIST = "observation.images.top", "observation.images.wrist"


@pytest.mark.parametrize("reader", ["fast", "lerobot"])
def test_a_key_renamed_away_is_missing_for_that_dataset(data_root, reader):
    """sess_b's only camera `top` becomes `wrist`; sess_a keeps `top`. With filled cameras, sess_b's
    samples have zeros and a set mask in `top` and its own frames in `wrist` (one camera, one slot)."""
    ds = MultiLeRobotDataset(
        ["lab/sess_a", "lab/sess_b"],
        root=data_root,
        rename_map={"lab/sess_b": {TOP: WRIST}},
        fill_missing_cameras=True,
        reader=reader,
    )
    assert ds.meta.schema.filled == {TOP: ["lab/sess_b"], WRIST: ["lab/sess_a"]}
    own = MultiLeRobotDataset(["lab/sess_b"], root=data_root)
    first_b = int(ds.meta.frame_offsets[1])
    for j in (0, 5):
        item, expected = ds[first_b + j], own[j]
        assert not item[TOP].any() and bool(item[f"{TOP}_pad_mask"])
        assert torch.equal(item[WRIST], expected[TOP]) and not bool(item[f"{WRIST}_pad_mask"])
    item_a = ds[0]
    assert item_a[TOP].any() and not item_a[WRIST].any() and bool(item_a[f"{WRIST}_pad_mask"])
    # `top`'s stats come from sess_a alone, `wrist`'s from sess_b alone
    alone_a = MultiLeRobotDataset(["lab/sess_a"], root=data_root)
    np.testing.assert_allclose(ds.stats[TOP]["mean"], alone_a.stats[TOP]["mean"], rtol=1e-6)
    np.testing.assert_allclose(ds.stats[WRIST]["mean"], own.stats[TOP]["mean"], rtol=1e-6)


@pytest.mark.parametrize("imagenet", [False, True])
def test_every_group_has_stats_for_every_key(data_root, imagenet):
    """per_robot groups so100 (sess_a, with a camera) and arm_a (arm_small, without): the filled camera's
    stats in arm_a are the mixture's (no dataset of the group has it); with ImageNet stats too."""
    ds = MultiLeRobotDataset(
        ["lab/sess_a", "lab/arm_small"],
        root=data_root,
        fill_missing_cameras=True,
        normalization_mode="per_robot",
    )
    if imagenet:  # as make_dataset does with lerobot's default use_imagenet_stats
        apply_imagenet_stats(ds.meta)
    groups, stats = dataset_group_stats(ds, "per_robot", use_imagenet_stats=imagenet)
    assert groups == {"lab/sess_a": "so100", "lab/arm_small": "arm_a"}
    for group in ("so100", "arm_a"):
        assert set(stats[group]) == set(ds.meta.stats), group
    np.testing.assert_allclose(stats["arm_a"][TOP]["max"], ds.meta.stats[TOP]["max"])
    np.testing.assert_allclose(
        stats["arm_a"]["action"]["mean"], ds.meta.per_dataset_stats[1]["action"]["mean"]
    )
    if imagenet:
        np.testing.assert_allclose(
            np.asarray(stats["arm_a"][TOP]["mean"]).reshape(-1), [0.485, 0.456, 0.406], rtol=1e-6
        )
