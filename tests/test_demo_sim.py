"""Meta-World demo data and evaluation, end to end with lerobot's real writer, loader and ACT policy."""

from __future__ import annotations

import json
import os
from pathlib import Path

# Both must be set before mujoco / huggingface_hub are first imported.
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("metaworld")

from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata  # noqa: E402
from lerobot.policies.act.configuration_act import ACTConfig  # noqa: E402

from lerobot_multi.demo.evaluate import (  # noqa: E402
    build_untrained_policy,
    evaluate_policy,
    evaluate_untrained,
    load_policy_bundle,
)
from lerobot_multi.demo.metaworld_data import (  # noqa: E402
    GENERATION_FILE,
    ensure_dataset,
    generate_demo_suite,
    generate_task_dataset,
)
from lerobot_multi.demo.sim import (  # noqa: E402
    ENV_STATE_KEY,
    ENV_STATE_NAMES,
    IMAGE_KEY,
    STATE_KEY,
    MetaWorldSim,
    split_placements,
    task_description,
)

TASK = "reach-v3"
IMAGE_SIZE = 16


def _tiny_act() -> ACTConfig:
    return ACTConfig(
        device="cpu",
        pretrained_backbone_weights=None,
        dim_model=64,
        n_heads=2,
        dim_feedforward=128,
        n_encoder_layers=1,
        n_decoder_layers=1,
        chunk_size=10,
        n_action_steps=10,
    )


@pytest.fixture(scope="module")
def state_ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sim") / "state"
    return ensure_dataset(TASK, "local/reach_state", root, num_episodes=2, placements=[0, 1])


@pytest.fixture(scope="module")
def image_ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sim") / "image"
    return generate_task_dataset(
        TASK, "local/reach_image", root, num_episodes=2, placements=[0, 1], image_size=IMAGE_SIZE
    )


def test_state_only_dataset(state_ds: Path) -> None:
    ds = LeRobotDataset("local/reach_state", root=state_ds, video_backend="pyav")
    assert ds.num_episodes == 2
    assert ds.fps == 80
    assert ds.meta.robot_type == "sawyer"
    assert IMAGE_KEY not in ds.features
    assert ds.features[ENV_STATE_KEY]["names"] == ENV_STATE_NAMES
    # reach succeeds after 34-54 steps; +10 frames held after success.
    lengths = [int(ep["length"]) for ep in ds.meta.episodes]
    assert all(40 <= n <= 70 for n in lengths), lengths
    assert len(ds) == sum(lengths)
    item = ds[0]
    assert item[STATE_KEY].shape == (4,)
    assert item[ENV_STATE_KEY].shape == (6,)
    assert item["action"].shape == (4,)
    assert item["task"] == task_description(TASK) == "Reach a goal position"
    actions = np.stack([ds[i]["action"].numpy() for i in range(len(ds))])
    assert np.abs(actions).max() <= 1.0
    # The goal is observable in MT1 and fixed within an episode.
    assert np.abs(item[ENV_STATE_KEY][3:].numpy()).sum() > 0
    goal_last = ds[lengths[0] - 1][ENV_STATE_KEY][3:]
    np.testing.assert_allclose(goal_last.numpy(), item[ENV_STATE_KEY][3:].numpy(), atol=1e-6)


def test_image_dataset(image_ds: Path) -> None:
    ds = LeRobotDataset("local/reach_image", root=image_ds, video_backend="pyav")
    assert ds.meta.video_keys == [IMAGE_KEY]
    assert ds.num_episodes == 2
    first, last = ds[0], ds[len(ds) - 1]
    for item in (first, last):
        assert item[IMAGE_KEY].shape == (3, IMAGE_SIZE, IMAGE_SIZE)
        assert 0.0 <= float(item[IMAGE_KEY].min()) <= float(item[IMAGE_KEY].max()) <= 1.0
        assert float(item[IMAGE_KEY].std()) > 0.01  # a real scene, not a black frame
    assert int(last["episode_index"]) == 1
    params = json.loads((image_ds / GENERATION_FILE).read_text())
    assert params["image_size"] == IMAGE_SIZE and params["vcodec"] == "h264"


def test_cache_skips_and_invalidates(state_ds: Path) -> None:
    info = state_ds / "meta" / "info.json"
    mtime = info.stat().st_mtime_ns
    again = ensure_dataset(TASK, "local/reach_state", state_ds, num_episodes=2, placements=[0, 1, 5])
    assert again == state_ds and info.stat().st_mtime_ns == mtime
    # A different parameter regenerates in place.
    ensure_dataset(TASK, "local/reach_state", state_ds, 2, [0, 1], extra_frames_after_success=0)
    assert info.stat().st_mtime_ns != mtime
    assert json.loads((state_ds / GENERATION_FILE).read_text())["extra_frames_after_success"] == 0
    meta = LeRobotDatasetMetadata("local/reach_state", root=state_ds)
    assert meta.total_episodes == 2


def test_refuses_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        ensure_dataset(TASK, "local/x", tmp_path, 1, [0])
    assert (tmp_path / "mine.txt").exists()


def test_expert_failure_raises_and_cleans_up(tmp_path: Path) -> None:
    root = tmp_path / "fail"
    with pytest.raises(RuntimeError, match="expert failed"):
        generate_task_dataset(TASK, "local/fail", root, 1, [0], max_steps=5)
    assert not root.exists()


def test_split_placements() -> None:
    train, held_out = split_placements(40)
    assert train == list(range(40)) and held_out == list(range(40, 50))
    assert split_placements(10, 5) == (list(range(10)), [45, 46, 47, 48, 49])
    # More training placements than the seed's 50 minus the held-out ones continue past 49.
    train, held_out = split_placements(45, 10)
    assert train == [*range(40), 50, 51, 52, 53, 54] and held_out == list(range(40, 50))
    assert not set(train) & set(held_out)
    with pytest.raises(ValueError):
        split_placements(10, 51)


def test_placements_past_49_come_from_the_next_seed() -> None:
    goal = slice(36, 39)
    with MetaWorldSim(TASK, seed=0) as sim0, MetaWorldSim(TASK, seed=1) as sim1:
        np.testing.assert_array_equal(sim0.reset(53)[goal], sim1.reset(3)[goal])
        own = [sim0.reset(p)[goal] for p in range(50)]
        assert not any(np.allclose(sim0.reset(53)[goal], g) for g in own)


def test_execution_noise_is_recorded_deterministically(tmp_path: Path) -> None:
    def states(root: Path) -> np.ndarray:
        ds = LeRobotDataset("local/noisy", root=root, video_backend="pyav")
        return np.stack([ds[i][STATE_KEY].numpy() for i in range(len(ds))])

    kwargs = dict(num_episodes=2, placements=[0, 1], execution_noise=0.3)
    noisy = generate_task_dataset(TASK, "local/noisy", tmp_path / "a", **kwargs)
    again = generate_task_dataset(TASK, "local/noisy", tmp_path / "b", **kwargs)
    clean = generate_task_dataset(TASK, "local/noisy", tmp_path / "c", num_episodes=2, placements=[0, 1])
    np.testing.assert_array_equal(states(noisy), states(again))  # drawn from (seed, placement)
    assert states(noisy).shape != states(clean).shape or not np.allclose(states(noisy), states(clean))
    assert json.loads((noisy / GENERATION_FILE).read_text())["execution_noise"] == 0.3
    ds = LeRobotDataset("local/noisy", root=noisy, video_backend="pyav")
    actions = np.stack([ds[i]["action"].numpy() for i in range(len(ds))])
    assert np.abs(actions).max() <= 1.0
    # Each noisy attempt that misses success is re-recorded, then the placement is reported.
    with pytest.raises(RuntimeError, match="expert failed"):
        generate_task_dataset(TASK, "local/noisy", tmp_path / "d", 1, [0], max_steps=5, execution_noise=0.3)


def test_sims_of_two_tasks_render_independently() -> None:
    # Regression for gymnasium's make-current-once: the older env must still render its own scene.
    with MetaWorldSim("reach-v3", 32) as reach:
        first = reach.observe(reach.reset(0))[IMAGE_KEY]
        with MetaWorldSim("drawer-open-v3", 32) as drawer:
            drawer_img = drawer.observe(drawer.reset(0))[IMAGE_KEY]
            second = reach.observe(reach.reset(0))[IMAGE_KEY]
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, drawer_img)


def test_evaluate_untrained_state_policy(state_ds: Path, tmp_path: Path) -> None:
    meta = LeRobotDatasetMetadata("local/reach_state", root=state_ds)
    policy, pre, post = build_untrained_policy(_tiny_act(), meta)
    result = evaluate_policy(
        policy, pre, post, task_name=TASK, placements=[48, 49], max_steps=15,
        image_size=None, seed=0, task_string=task_description(TASK),
    )  # fmt: skip
    assert result["task"] == TASK and result["episodes"] == 2
    assert 0.0 <= result["success_rate"] <= 1.0
    assert len(result["successes"]) == 2 and all(1 <= s <= 15 for s in result["steps"])

    # Round trip through lerobot's save_pretrained / from_pretrained gives the same bundle.
    policy.save_pretrained(tmp_path)
    pre.save_pretrained(tmp_path)
    post.save_pretrained(tmp_path)
    loaded, lpre, lpost = load_policy_bundle(tmp_path)
    again = evaluate_policy(
        loaded, lpre, lpost, task_name=TASK, placements=[49], max_steps=5,
        image_size=None, seed=0, task_string=task_description(TASK),
    )  # fmt: skip
    assert again["episodes"] == 1


def test_evaluate_untrained_image_policy(image_ds: Path) -> None:
    meta = LeRobotDatasetMetadata("local/reach_image", root=image_ds)
    result = evaluate_untrained(
        _tiny_act(), meta, task_name=TASK, placements=[49], max_steps=12, image_size=IMAGE_SIZE, seed=0
    )
    assert result["episodes"] == 1 and 0.0 <= result["success_rate"] <= 1.0
    with pytest.raises(ValueError, match="image_size"):
        evaluate_untrained(_tiny_act(), meta, TASK, [49], 5, image_size=None, seed=0)


@pytest.mark.slow
def test_demo_suite_three_tasks(tmp_path: Path) -> None:
    roots = generate_demo_suite(tmp_path, ["reach-v3", "push-v3", "drawer-open-v3"], 3, 64, seed=0)
    for task_name, root in roots.items():
        ds = LeRobotDataset(f"local/metaworld_{task_name}", root=root, video_backend="pyav")
        assert ds.num_episodes == 3
        assert ds[0]["task"] == task_description(task_name)
        assert ds[0][IMAGE_KEY].shape == (3, 64, 64)
