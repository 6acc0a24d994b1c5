"""Deploying a per-robot checkpoint with lerobot's own tools: loading without `import lerobot_multi`,
lerobot-eval's and lerobot-record's exact processor calls, and lerobot-multi-export."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import run, train_cmd

ROBOTS = ["lab/arm_small", "lab/arm_big"]  # robot types arm_a and arm_b; actions around 0 and around 50

# Makes `import lerobot_multi` fail in a subprocess, as on a machine without the package.
BLOCK = "import sys; sys.modules['lerobot_multi'] = None\n"
OBS = (
    '{"observation.state": torch.linspace(-1, 1, 6)[None], "observation.environment_state": torch.ones(1, 3)}'
)


@pytest.fixture(scope="module")
def per_robot(data_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deploy")
    out = tmp / "per_robot"
    args = [
        f"--dataset.repo_id=[{','.join(ROBOTS)}]",
        f"--dataset.root={data_root}",
        "--dataset.normalization_mode=per_robot",
    ]
    run(train_cmd(*args, "--steps=2", "--num_workers=0", f"--output_dir={out}"), cwd=tmp)
    return out / "checkpoints/last/pretrained_model"


def python(code: str, cwd) -> list[str]:
    return run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd).stdout.strip().splitlines()


def test_saved_by_class_path_and_loaded_by_lerobot_alone(per_robot, tmp_path):
    for name, cls in (
        ("preprocessor", "GroupNormalizerProcessorStep"),
        ("postprocessor", "GroupUnnormalizerProcessorStep"),
    ):
        steps = json.loads((per_robot / f"policy_{name}.json").read_text())["steps"]
        assert f"lerobot_multi.normalize.{cls}" in [s.get("class") for s in steps]
        assert not any("lerobot_multi" in s.get("registry_name", "") for s in steps)
    lines = python(
        f"""
        import sys, torch
        from lerobot.policies.act.modeling_act import ACTPolicy
        from lerobot.policies.factory import make_pre_post_processors
        d = "{per_robot}"
        policy = ACTPolicy.from_pretrained(d)
        assert "lerobot_multi" not in sys.modules
        for group in ("arm_a", "arm_b", "lab/arm_big"):
            pre, post = make_pre_post_processors(policy.config, pretrained_path=d,
                preprocessor_overrides={{"GroupNormalizerProcessorStep": {{"group": group}}}},
                postprocessor_overrides={{"GroupUnnormalizerProcessorStep": {{"group": group}}}})
            # a zero normalized action unnormalizes to the group's mean action
            print(group, round(float(post(torch.zeros(1, 6)).mean()), 1))
            assert torch.isfinite(post(policy.select_action(pre({OBS})))).all()
        """,
        tmp_path,
    )
    means = {line.split()[0]: float(line.split()[1]) for line in lines[-3:]}
    assert abs(means["arm_a"]) < 1.5 and abs(means["arm_b"] - 50) < 1.5
    assert means["lab/arm_big"] == means["arm_b"]


def test_eval_record_rollout_and_server_calls_keep_the_group_stats(per_robot, tmp_path):
    # lerobot-eval's and lerobot-record's exact calls. With a pretrained_path, make_pre_post_processors
    # ignores record's dataset_stats: the saved group stats stay, and no group is named, so acting is a
    # clear error listing the groups and pointing at lerobot-multi-export.
    lines = python(
        f"""
        import torch
        from lerobot.policies.act.modeling_act import ACTPolicy
        from lerobot.policies.factory import make_pre_post_processors
        from lerobot.processor.rename_processor import rename_stats
        d = "{per_robot}"
        policy = ACTPolicy.from_pretrained(d)
        record_stats = {{"action": {{"mean": torch.full((6,), 7.0), "std": torch.ones(6)}},
                         "observation.state": {{"mean": torch.zeros(6), "std": torch.ones(6)}}}}
        calls = {{
            "eval": dict(preprocessor_overrides={{"device_processor": {{"device": "cpu"}},
                                                  "rename_observations_processor": {{"rename_map": {{}}}}}}),
            "record": dict(dataset_stats=rename_stats(record_stats, {{}}),
                           preprocessor_overrides={{"device_processor": {{"device": "cpu"}},
                                                    "rename_observations_processor": {{"rename_map": {{}}}}}}),
            # lerobot 0.6's lerobot-rollout (record's call) and async policy server (eval's, plus the
            # postprocessor's device)
            "rollout": dict(dataset_stats=rename_stats(record_stats, {{}}),
                            preprocessor_overrides={{"device_processor": {{"device": "cpu"}},
                                                     "rename_observations_processor": {{"rename_map": {{}}}}}}),
            "server": dict(preprocessor_overrides={{"device_processor": {{"device": "cpu"}},
                                                    "rename_observations_processor": {{"rename_map": {{}}}}}},
                           postprocessor_overrides={{"device_processor": {{"device": "cpu"}}}}),
        }}
        for tool, kwargs in calls.items():
            pre, post = make_pre_post_processors(policy.config, pretrained_path=d, **kwargs)
            step = [s for s in post.steps if type(s).__name__ == "GroupUnnormalizerProcessorStep"][0]
            print(tool, "groups", sorted(step.stats), round(float(step.stats["arm_b"]["action"]["mean"].mean()), 1))
            try:
                pre({OBS})
            except Exception as e:
                print(tool, "error", type(e).__name__, str(e).replace("\\n", " "))
        """,
        tmp_path,
    )
    text = "\n".join(lines)
    for tool in ("eval", "record", "rollout", "server"):
        assert f"{tool} groups ['arm_a', 'arm_b']" in text
        assert f"{tool} error" in text and "lerobot-multi-export" in text and "['arm_a', 'arm_b']" in text
    assert "7.0" not in text  # record's stats are not used


def test_export_acts_bit_for_bit_without_the_package(per_robot, tmp_path, capsys):
    out = tmp_path / "arm_b_plain"
    run(
        [
            sys.executable,
            "-m",
            "lerobot_multi.scripts.export",
            str(per_robot.parent),
            "--group=arm_b",
            f"--output={out}",
        ],
        cwd=tmp_path,
    )
    assert not (out / "train_config.json").exists() and (out / "model.safetensors").exists()
    for name in ("policy_preprocessor.json", "policy_postprocessor.json"):
        assert "lerobot_multi" not in (out / name).read_text()
    act = """
        import torch
        from lerobot.policies.act.modeling_act import ACTPolicy
        from lerobot.policies.factory import make_pre_post_processors
        policy = ACTPolicy.from_pretrained("{d}")
        pre, post = make_pre_post_processors(policy.config, pretrained_path="{d}", {kw})
        torch.save(post(policy.select_action(pre({obs}))), "{dest}")
    """
    group_kw = (
        'preprocessor_overrides={"GroupNormalizerProcessorStep": {"group": "arm_b"}}, '
        'postprocessor_overrides={"GroupUnnormalizerProcessorStep": {"group": "arm_b"}}'
    )
    eval_kw = 'preprocessor_overrides={"device_processor": {"device": "cpu"}}'
    python(act.format(d=per_robot, kw=group_kw, obs=OBS, dest=tmp_path / "group.pt"), tmp_path)
    python(
        BLOCK + textwrap.dedent(act).format(d=out, kw=eval_kw, obs=OBS, dest=tmp_path / "plain.pt"), tmp_path
    )
    group, plain = torch.load(tmp_path / "group.pt"), torch.load(tmp_path / "plain.pt")
    assert group.shape == (1, 6) and torch.equal(group, plain)
    assert group.mean() > 20  # arm_b's scale, not arm_a's

    from lerobot_multi.scripts import export

    assert export.main([str(per_robot), "--group=koch", f"--output={tmp_path / 'x'}"]) == 2
    assert "'koch' is unknown" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert export.main([str(per_robot), "--group=arm_a", f"--output={out}"]) == 2
    assert "not empty" in capsys.readouterr().err


def test_checkpoints_of_0_1_0_still_load(per_robot, tmp_path):
    # 0.1.0 saved the steps by registry name; after `import lerobot_multi` they load, keyed by those names.
    old = tmp_path / "old"
    shutil.copytree(per_robot, old)
    for name, legacy in (
        ("preprocessor", "lerobot_multi_group_normalizer"),
        ("postprocessor", "lerobot_multi_group_unnormalizer"),
    ):
        path = old / f"policy_{name}.json"
        saved = json.loads(path.read_text())
        for step in saved["steps"]:
            if step.get("class", "").startswith("lerobot_multi."):
                del step["class"]
                step["registry_name"] = legacy
        path.write_text(json.dumps(saved))
    lines = python(
        f"""
        import torch, lerobot_multi
        from lerobot.policies.act.modeling_act import ACTPolicy
        from lerobot.policies.factory import make_pre_post_processors
        policy = ACTPolicy.from_pretrained("{old}")
        pre, post = make_pre_post_processors(policy.config, pretrained_path="{old}",
            preprocessor_overrides={{"lerobot_multi_group_normalizer": {{"group": "arm_b"}}}},
            postprocessor_overrides={{"lerobot_multi_group_unnormalizer": {{"group": "arm_b"}}}})
        print(round(float(post(torch.zeros(1, 6)).mean()), 1))
        """,
        tmp_path,
    )
    assert abs(float(lines[-1]) - 50) < 1.5


def test_resume_keeps_the_group_normalizers(per_robot, tmp_path):
    proc = run(
        [
            sys.executable,
            "-m",
            "lerobot_multi.scripts.train",
            f"--config_path={per_robot / 'train_config.json'}",
            "--resume=true",
            "--steps=3",
        ],
        cwd=tmp_path,
    )
    assert "Normalization per_robot: groups ['arm_a', 'arm_b']" in proc.stdout + proc.stderr


BEFORE_LAYOUT = Path(__file__).parent / "fixtures" / "checkpoint_before_layout"


def test_checkpoint_written_before_the_layout_move_loads(tmp_path):
    """Written by lerobot-multi on lerobot 0.4.4 before modules moved into role folders (per_robot,
    condition_on=robot; tests/fixtures/README.md): its steps' class paths still import, on both lines."""
    ckpt = tmp_path / "ckpt"
    shutil.copytree(BEFORE_LAYOUT, ckpt)
    saved = json.loads((ckpt / "policy_preprocessor.json").read_text())
    assert "lerobot_multi.normalize.GroupNormalizerProcessorStep" in [s.get("class") for s in saved["steps"]]
    lines = python(
        f"""
        import torch
        from lerobot.policies.act.modeling_act import ACTPolicy
        from lerobot.policies.factory import make_pre_post_processors
        policy = ACTPolicy.from_pretrained("{ckpt}")
        pre, post = make_pre_post_processors(policy.config, pretrained_path="{ckpt}",
            preprocessor_overrides={{"GroupNormalizerProcessorStep": {{"group": "arm_b"}},
                                     "ConditionProcessorStep": {{"group": "arm_b"}}}},
            postprocessor_overrides={{"GroupUnnormalizerProcessorStep": {{"group": "arm_b"}}}})
        batch = pre({OBS})
        print(batch["observation.environment_state"][0, -2:].tolist())
        print(round(float(post(torch.zeros(1, 6)).mean()), 1))
        """,
        tmp_path,
    )
    assert lines[-2] == "[0.0, 1.0]"  # the robot one-hot: arm_b is the second group
    assert abs(float(lines[-1]) - 50) < 1.5
