"""A VLA end to end: lerobot's SmolVLA trained by lerobot-multi-train on the community recipe
(examples/community_mix.yaml) over hub datasets, its backbone a tiny SmolVLM (tests/tiny_vlm.py) served
by the same loopback hub; resumed, then reloaded offline in a fresh process that acts per robot group.
Slow (about a minute): `make test-slow`, which `.ci/run` runs on both lerobot lines."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from community import FLAWED, build_mix, community_ids
from loopback_hub import OLAH, LoopbackHub
from tiny_vlm import build_tiny_vlm

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "community_mix.yaml"
BACKBONE = "tiny/smolvlm"
SMOLVLA = [
    "--policy.type=smolvla",
    f"--policy.vlm_model_name={BACKBONE}",
    "--policy.load_vlm_weights=false",
    "--policy.num_vlm_layers=4",
    "--policy.resize_imgs_with_padding=[64,64]",
    "--policy.chunk_size=4",
    "--policy.n_action_steps=4",
    "--policy.device=cpu",
    "--policy.push_to_hub=false",
    "--batch_size=2",
    "--num_workers=0",
    "--log_freq=1",
    "--wandb.enable=false",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("transformers") is None,
        reason="SmolVLA needs the vla extra: pip install -e '.[vla]' (make test-vla adds it)",
    ),
    pytest.mark.skipif(not OLAH.exists(), reason=f"no olah at {OLAH}: run `make hub-venv`"),
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The recipe's datasets and the backbone on the loopback hub; 2 steps, then resumed to 3."""
    work = tmp_path_factory.mktemp("vla")
    hub = LoopbackHub(work / "hub").start()
    try:
        built = work / "built"
        ids = build_mix(built, community_ids(6) + FLAWED)
        recipe = yaml.safe_load(RECIPE.read_text())
        assert recipe["dataset"]["repo_id"] == ids  # the recipe names exactly these shapes
        for rid in ids:
            hub.publish(built / rid, rid, tag="v2.1" if "v21" in rid else "v3.0")
        hub.publish(build_tiny_vlm(work / "backbone"), BACKBONE, tag="v1", readme=False, repo_type="models")
        out, home = work / "run", work / "home"
        first = train(
            hub, home, [f"--config_path={RECIPE}", "--steps=2", "--save_freq=1", f"--output_dir={out}"], work
        )
        backbone_requests = sum(BACKBONE in path for _, path in hub.proxy.paths)
        saved = out / "checkpoints" / "last" / "pretrained_model"
        resume = [f"--config_path={saved / 'train_config.json'}", "--resume=true", "--steps=3"]
        resumed = train(hub, home, resume, work, smolvla=False)
        yield {
            "out": out,
            "home": home,
            "hub": hub,
            "backbone": work / "backbone",
            "logs": (first, resumed),
            "backbone_requests": backbone_requests,
        }
    finally:
        hub.stop()


def train(hub: LoopbackHub, home: Path, args: list[str], cwd: Path, smolvla: bool = True) -> str:
    cmd = [sys.executable, "-m", "lerobot_multi.scripts.train", *(SMOLVLA if smolvla else []), *args]
    run = subprocess.run(cmd, env=hub.client_env(home), cwd=cwd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-5000:]
    return run.stdout + run.stderr


def test_smolvla_trains_and_resumes_on_the_community_recipe(trained):
    first, resumed = trained["logs"]
    assert "step:2 " in first and "step:3 " in resumed and "step:1 " not in resumed
    assert trained["backbone_requests"] > 0  # the backbone came from the hub
    assert "dataset.min_episode_frames = 4 (the policy's window)" in first
    assert "'community/flaw_broken' left out (dataset.on_error=skip)" in first
    saved = trained["out"] / "checkpoints" / "last" / "pretrained_model"
    mixture = json.loads((saved / "mixture.json").read_text())
    assert [s["repo_id"] for s in mixture["skipped"]] == ["community/flaw_broken"]
    assert {(s["repo_id"], s["episode"]) for s in mixture["skipped_episodes"]} == {
        ("community/flaw_nan", 1),
        ("community/flaw_short", 2),
        ("community/flaw_video", 1),
    }
    assert len(mixture["datasets"]) == 9 and all(d["commit"] for d in mixture["datasets"])
    config = json.loads((saved / "config.json").read_text())
    assert config["type"] == "smolvla" and config["vlm_model_name"] == BACKBONE


def test_reloaded_offline_it_acts_per_robot_group(trained, tmp_path):
    """A fresh process with no network: stock lerobot loads the checkpoint (backbone from the cache the
    training filled) and acts for each robot group with that group's stats."""
    saved = trained["out"] / "checkpoints" / "last" / "pretrained_model"
    code = textwrap.dedent(
        f"""
        import torch
        from lerobot.policies.factory import make_pre_post_processors
        from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy
        d = "{saved}"
        policy = SmolVLAPolicy.from_pretrained(d)
        obs = {{"observation.state": torch.zeros(1, 14), "task": "fold the towel",
               "observation.images.top": torch.rand(1, 3, 32, 32), "observation.images.wrist": torch.rand(1, 3, 32, 32)}}
        for group in ("so100", "koch", "aloha"):
            pre, post = make_pre_post_processors(policy.config, pretrained_path=d,
                preprocessor_overrides={{"GroupNormalizerProcessorStep": {{"group": group}}}},
                postprocessor_overrides={{"GroupUnnormalizerProcessorStep": {{"group": group}}}})
            policy.reset()
            action = post(policy.select_action(pre(dict(obs))))
            assert action.shape == (1, 14) and torch.isfinite(action).all(), (group, action)
            print(group, round(float(post(torch.zeros(1, 14))[0, :6].abs().sum()), 4))
        """
    )
    env = trained["hub"].client_env(trained["home"], offline=True)
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-5000:]
    means = dict(line.split() for line in run.stdout.strip().splitlines()[-3:])
    assert len(set(means.values())) == 3, means  # each group unnormalizes with its own stats


def test_reloaded_where_the_backbone_has_another_name(trained, tmp_path):
    """The checkpoint names its backbone (`vlm_model_name`, the tokenizer step's `tokenizer_name`); on a
    machine where it lives elsewhere (here: a local copy, an empty cache, no network), both overrides
    of docs/community.md load it, and without them loading fails."""
    saved = trained["out"] / "checkpoints" / "last" / "pretrained_model"
    code = textwrap.dedent(
        f"""
        import sys, torch
        from lerobot.configs.policies import PreTrainedConfig
        from lerobot.policies.factory import make_pre_post_processors
        from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy
        d, backbone = "{saved}", "{trained["backbone"]}"
        try:
            SmolVLAPolicy.from_pretrained(d)
            sys.exit("loaded without the backbone")
        except Exception as e:
            print("WITHOUT_OVERRIDES", type(e).__name__)
        config = PreTrainedConfig.from_pretrained(d)
        config.vlm_model_name = backbone
        policy = SmolVLAPolicy.from_pretrained(d, config=config)
        pre, post = make_pre_post_processors(config, pretrained_path=d,
            preprocessor_overrides={{"tokenizer_processor": {{"tokenizer_name": backbone}},
                                     "GroupNormalizerProcessorStep": {{"group": "aloha"}}}},
            postprocessor_overrides={{"GroupUnnormalizerProcessorStep": {{"group": "aloha"}}}})
        obs = {{"observation.state": torch.zeros(1, 14), "task": "fold the towel",
               "observation.images.top": torch.rand(1, 3, 32, 32), "observation.images.wrist": torch.rand(1, 3, 32, 32)}}
        action = post(policy.select_action(pre(obs)))
        assert action.shape == (1, 14) and torch.isfinite(action).all()
        print("RELOADED")
        """
    )
    env = trained["hub"].client_env(tmp_path / "empty_home", offline=True)
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-5000:]
    assert "WITHOUT_OVERRIDES" in run.stdout and "RELOADED" in run.stdout
