"""Each item lerobot 0.4.4's training path reads from a dataset (docs/lerobot-contract.md), exercised."""

from __future__ import annotations

import pandas as pd
import torch
from conftest import SAME
from helpers import tiny_act
from lerobot.configs.types import FeatureType
from lerobot.datasets.factory import resolve_delta_timestamps
from lerobot.datasets.sampler import EpisodeAwareSampler
from lerobot.policies.factory import make_policy, make_pre_post_processors

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.compat import dataset_to_policy_features
from lerobot_multi.factory import apply_imagenet_stats


def test_contract_items(data_root):
    ds = MultiLeRobotDataset(SAME, root=data_root, episodes={"lab/sess_b": [0, 3]}, video_backend="pyav")
    meta = ds.meta
    cfg = tiny_act()

    # 1. resolve_delta_timestamps(cfg.policy, ds_meta): features + fps
    delta = resolve_delta_timestamps(cfg, meta)
    assert delta == {"action": [i / 30 for i in range(4)]}
    ds.set_delta_timestamps(delta)

    # 2. make_policy(cfg, ds_meta=...): dataset_to_policy_features(meta.features), meta.stats
    features = dataset_to_policy_features(meta.features)
    assert features["observation.images.top"].type is FeatureType.VISUAL
    assert features["observation.images.top"].shape == (3, 64, 64)
    policy = make_policy(cfg, ds_meta=meta)

    # 3. make_pre_post_processors(dataset_stats=meta.stats)
    pre, post = make_pre_post_processors(cfg, dataset_stats=meta.stats)

    # 4. EpisodeAwareSampler over meta.episodes boundaries and dataset.episodes
    sampler = EpisodeAwareSampler(
        meta.episodes["dataset_from_index"],
        meta.episodes["dataset_to_index"],
        episode_indices_to_use=ds.episodes,
        drop_n_last_frames=3,  # what diffusion asks for (ACT has no drop_n_last_frames in 0.4.4)
        shuffle=True,
    )
    drawn = list(sampler)
    starts, ends = meta.episodes["dataset_from_index"], meta.episodes["dataset_to_index"]
    # every frame once, except each episode's last 3 (global indices, over every dataset)
    assert sorted(drawn) == [i for a, b in zip(starts, ends) for i in range(a, b - 3)]

    # 5. num_frames / num_episodes (logging, MetricsTracker)
    assert ds.num_frames == meta.total_frames and ds.num_episodes == meta.total_episodes

    # 6. meta.episodes behaves like lerobot's: len, row indexing, column access, to_pandas
    assert len(meta.episodes) == ds.num_episodes
    assert meta.episodes[3]["dataset_from_index"] == meta.episodes["dataset_to_index"][2]
    assert isinstance(meta.episodes.to_pandas(), pd.DataFrame)

    # 7. use_imagenet_stats writes meta.stats[key] for meta.camera_keys
    apply_imagenet_stats(meta)
    assert torch.allclose(
        torch.as_tensor(meta.stats["observation.images.top"]["mean"]).flatten(),
        torch.tensor([0.485, 0.456, 0.406]),
    )

    # 8. a collated batch goes through the preprocessor and the policy trains on it
    loader = torch.utils.data.DataLoader(ds, batch_size=4, sampler=sampler)
    batch = pre(next(iter(loader)))
    loss, _ = policy.forward(batch)
    loss.backward()
    assert torch.isfinite(loss)
    actions = post(policy.select_action({k: v for k, v in batch.items()}))
    assert actions.shape[-1] == 6

    # 9. metadata attributes lerobot code reads directly
    assert meta.fps == 30 and meta.robot_type == "so100"
    assert meta.camera_keys == meta.video_keys == ["observation.images.top"]
    assert meta.get_task_index("stack") is not None and meta.total_tasks == 3
    assert meta.shapes["action"] == (6,) and meta.names["action"][0] == "a0"
