"""Success-rate evaluation of lerobot policies in Meta-World.

`lerobot-eval --env.type=metaworld` renders 480x480 with shadows (~90 ms/step on CPU) and only exposes
the image + 4-d state, so it cannot evaluate policies trained on these datasets' environment state. This
loop rebuilds observations with `MetaWorldSim.observe`, the exact code that recorded the datasets, and
feeds lerobot's own pre/post-processors, as `lerobot-eval` does.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lerobot_multi.demo.sim import IMAGE_KEY, MetaWorldSim, task_description
from lerobot_multi.meta.metadata import MultiDatasetMetadata

logger = logging.getLogger(__name__)


def observation_to_batch(frame: dict[str, np.ndarray], task_string: str) -> dict[str, Any]:
    """One env observation as a lerobot batch of size 1, in the dtypes/ranges the dataset loader yields."""
    batch: dict[str, Any] = {}
    for key, value in frame.items():
        tensor = torch.from_numpy(value)
        if key == IMAGE_KEY:
            # The video decoder yields (C, H, W) float in [0, 1]; match it.
            tensor = tensor.permute(2, 0, 1).float().div_(255.0)
        batch[key] = tensor.unsqueeze(0)
    batch["task"] = [task_string]
    return batch


def _check_inputs(policy: Any, image_size: int | None) -> None:
    features = policy.config.input_features or {}
    if IMAGE_KEY in features:
        if image_size is None:
            raise ValueError(f"policy expects {IMAGE_KEY}; pass the image_size it was trained with")
        expected = tuple(features[IMAGE_KEY].shape)
        if expected != (3, image_size, image_size):
            raise ValueError(f"policy expects {IMAGE_KEY} of shape {expected}, image_size={image_size}")


def evaluate_policy(
    policy: Any,
    preprocessor: Any,
    postprocessor: Any,
    task_name: str,
    placements: list[int],
    max_steps: int,
    image_size: int | None,
    seed: int,
    task_string: str,
) -> dict[str, Any]:
    """Run one episode per placement (MT1 `seed` must match the one used for the training data).

    An episode succeeds when Meta-World reports `info["success"]` within `max_steps` steps.
    """
    _check_inputs(policy, image_size)
    policy.eval()
    successes: list[bool] = []
    steps: list[int] = []
    episode_seconds: list[float] = []
    start = time.perf_counter()
    with MetaWorldSim(task_name, image_size=image_size, seed=seed) as sim:
        if max_steps > sim.max_path_length:
            raise ValueError(f"max_steps {max_steps} exceeds Meta-World's limit {sim.max_path_length}")
        for placement in placements:
            # ACT & co. keep an action queue; stale actions from the last episode must not leak in.
            policy.reset()
            preprocessor.reset()
            postprocessor.reset()
            episode_start = time.perf_counter()
            obs = sim.reset(placement)
            success = False
            step = 0
            while step < max_steps and not success:
                batch = observation_to_batch(sim.observe(obs), task_string)
                with torch.inference_mode():
                    action = postprocessor(policy.select_action(preprocessor(batch)))
                action_np = action.reshape(-1).to("cpu", torch.float64).numpy()
                obs, success = sim.step(np.clip(action_np, -1.0, 1.0))
                step += 1
            successes.append(success)
            steps.append(step)
            episode_seconds.append(time.perf_counter() - episode_start)
            logger.info("%s placement %d: success=%s after %d steps", task_name, placement, success, step)
    elapsed = time.perf_counter() - start
    episodes = len(successes)
    return {
        "task": task_name,
        "success_rate": float(np.mean(successes)) if episodes else 0.0,
        "successes": successes,
        "episodes": episodes,
        "placements": list(placements),
        "steps": steps,
        "episode_seconds": episode_seconds,
        "seconds": elapsed,
    }


def load_policy_bundle(pretrained_dir: Path, device: str = "cpu") -> tuple[Any, Any, Any]:
    """(policy, preprocessor, postprocessor) from a directory written by lerobot's `save_pretrained`.

    Works for any lerobot policy type (ACT included): the type is read from the saved config.json.
    """
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors

    pretrained_dir = Path(pretrained_dir)
    cfg = PreTrainedConfig.from_pretrained(pretrained_dir)
    cfg.device = device
    policy = get_policy_class(cfg.type).from_pretrained(pretrained_dir, config=cfg)
    policy.to(device)
    # The saved device step names the training device; override it so CUDA-trained checkpoints load here.
    preprocessor, postprocessor = make_pre_post_processors(
        cfg,
        pretrained_path=str(pretrained_dir),
        preprocessor_overrides={"device_processor": {"device": device}},
    )
    return policy, preprocessor, postprocessor


def build_untrained_policy(cfg: Any, ds_meta: Any) -> tuple[Any, Any, Any]:
    """A freshly initialised policy normalised with `ds_meta.stats`: the baseline for a trained one.

    `cfg` is a lerobot policy config (e.g. `ACTConfig(...)`); `ds_meta` a `LeRobotDatasetMetadata`
    (or anything with `.features` and `.stats`, such as the multi-dataset metadata).
    """
    from lerobot.policies.factory import make_policy, make_pre_post_processors

    from lerobot_multi.deploy.condition_step import add_condition_step

    policy = make_policy(cfg, ds_meta=ds_meta)
    preprocessor, postprocessor = make_pre_post_processors(cfg, dataset_stats=ds_meta.stats)
    if isinstance(ds_meta, MultiDatasetMetadata) and ds_meta.conditioning is not None:
        # the one-hot, as lerobot-multi-train adds it
        add_condition_step(preprocessor, ds_meta)
    return policy, preprocessor, postprocessor


def evaluate_untrained(
    cfg: Any,
    ds_meta: Any,
    task_name: str,
    placements: list[int],
    max_steps: int,
    image_size: int | None,
    seed: int,
    task_string: str | None = None,
) -> dict[str, Any]:
    """Success rate of an untrained policy with the same config and stats (torch seeded by `seed`)."""
    torch.manual_seed(seed)
    policy, preprocessor, postprocessor = build_untrained_policy(cfg, ds_meta)
    return evaluate_policy(
        policy,
        preprocessor,
        postprocessor,
        task_name=task_name,
        placements=placements,
        max_steps=max_steps,
        image_size=image_size,
        seed=seed,
        task_string=task_string or task_description(task_name),
    )
