"""Per-robot / per-dataset normalization: a lerobot processor step with one set of stats per group."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
import torch
from lerobot.policies.factory import make_pre_post_processors
from test_contract import tiny_act
from test_train import run, train_cmd

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset
from lerobot_multi.normalize import dataset_group_stats, install_group_normalization

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
    with pytest.raises(
        DatasetSourceError, match=r"normalization group None is unknown: name one of the groups"
    ):
        post(torch.zeros(1, 6))


def test_train_save_and_reload_with_a_named_group(data_root, tmp_path):
    out = tmp_path / "per_robot"
    args = [
        f"--dataset.repo_id=[{','.join(ROBOTS)}]",
        f"--dataset.root={data_root}",
        "--dataset.normalization_mode=per_robot",
    ]
    run(train_cmd(*args, "--steps=2", "--num_workers=0", f"--output_dir={out}"), cwd=tmp_path)
    ckpt = out / "checkpoints/last/pretrained_model"
    saved = json.loads((ckpt / "policy_postprocessor.json").read_text())
    assert any(s.get("registry_name") == "lerobot_multi_group_unnormalizer" for s in saved["steps"])
    code = textwrap.dedent(
        f"""
        import torch, lerobot_multi
        from lerobot.policies.act.modeling_act import ACTPolicy
        from lerobot.policies.factory import make_pre_post_processors
        d = "{ckpt}"
        policy = ACTPolicy.from_pretrained(d)
        for group in ("arm_a", "arm_b", "lab/arm_big"):
            pre, post = make_pre_post_processors(policy.config, pretrained_path=d,
                preprocessor_overrides={{"lerobot_multi_group_normalizer": {{"group": group}}}},
                postprocessor_overrides={{"lerobot_multi_group_unnormalizer": {{"group": group}}}})
            # a zero normalized action unnormalizes to the group's mean action
            print(group, round(float(post(torch.zeros(1, 6)).mean()), 1))
            obs = pre({{"observation.state": torch.zeros(1, 6), "observation.environment_state": torch.zeros(1, 3)}})
            assert torch.isfinite(post(policy.select_action(obs))).all()
        """
    )
    lines = run([sys.executable, "-c", code], cwd=tmp_path).stdout.strip().splitlines()
    means = {line.split()[0]: float(line.split()[1]) for line in lines[-3:]}
    assert (
        abs(means["arm_a"]) < 1.5
        and abs(means["arm_b"] - 50) < 1.5
        and means["lab/arm_big"] == means["arm_b"]
    )
    # resume keeps the group normalizers (lerobot's stats override is redirected to them)
    proc = run(
        [
            sys.executable,
            "-m",
            "lerobot_multi.scripts.train",
            f"--config_path={ckpt / 'train_config.json'}",
            "--resume=true",
            "--steps=3",
        ],
        cwd=tmp_path,
    )
    assert "Normalization per_robot: groups ['arm_a', 'arm_b']" in proc.stdout + proc.stderr
