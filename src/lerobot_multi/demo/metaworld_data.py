"""Record Meta-World scripted-expert demonstrations as LeRobot v3.0 datasets.

Every dataset is written with lerobot 0.4.4's own writer (`LeRobotDataset.create` / `add_frame` /
`save_episode` / `finalize`), so the files are exactly what lerobot produces for real robots. The
observation layout is built by `MetaWorldSim.observe` (`sim.py`), which the evaluator reuses, so training
and evaluation see identical state/env-state/image features.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_multi.compat import video_codec_options
from lerobot_multi.demo.sim import (
    ACTION_KEY,
    METAWORLD_FPS,
    MetaWorldSim,
    dataset_features,
    split_placements,
    task_description,
)

logger = logging.getLogger(__name__)

MIN_AV1_IMAGE_SIZE = 32  # libsvtav1 dies with SIGFPE (whole interpreter) on frames <= 24 px
GENERATION_FILE = "generation.json"
NOISY_ATTEMPTS = 5  # re-records of a placement whose noisy episode missed success
GENERATOR_VERSION = 2  # bump when the recorded content changes, to invalidate caches


def record_expert_episode(
    sim: MetaWorldSim,
    placement: int,
    max_steps: int,
    extra_frames_after_success: int,
    execution_noise: float = 0.0,
    rng: np.random.Generator | None = None,
) -> list[dict[str, np.ndarray]] | None:
    """Frames (observation + clipped expert action) until success + extra frames; None on failure.

    `execution_noise` > 0 perturbs the executed hand motion (Gaussian, std in action units) while the
    frame keeps the expert's own action: the data then shows how the expert recovers from small
    deviations, which a cloned policy makes and a noise-free expert never shows.
    """
    from metaworld.policies import ENV_POLICY_MAP

    if execution_noise > 0 and rng is None:
        raise ValueError("execution_noise needs an rng")
    expert = ENV_POLICY_MAP[sim.task_name]()
    obs = sim.reset(placement)
    frames: list[dict[str, np.ndarray]] = []
    success_step: int | None = None
    with warnings.catch_warnings():
        # The experts' gains exceed the action box by design; the env clips and we clip before storing.
        warnings.filterwarnings("ignore", message="Constant", category=UserWarning)
        for step in range(max_steps):
            frame = sim.observe(obs)
            action = np.clip(expert.get_action(obs), -1.0, 1.0).astype(np.float32)
            frame[ACTION_KEY] = action
            frames.append(frame)
            executed = action
            if execution_noise > 0:  # the gripper command stays the expert's
                executed = action.copy()
                executed[:3] = np.clip(executed[:3] + rng.normal(0.0, execution_noise, 3), -1.0, 1.0)
            obs, success = sim.step(executed)
            if success and success_step is None:
                success_step = step
            # Extra frames teach the policy to hold still once done instead of ending mid-motion.
            if success_step is not None and step - success_step >= extra_frames_after_success:
                break
    return frames if success_step is not None else None


def _video_codec(image_size: int | None) -> str | None:
    if image_size is None:
        return None
    if image_size >= MIN_AV1_IMAGE_SIZE:
        return "libsvtav1"  # lerobot's default codec
    if image_size % 2:
        raise ValueError(f"image_size {image_size} < {MIN_AV1_IMAGE_SIZE} must be even (h264/yuv420p)")
    return "h264"


def _generation_params(
    task_name: str,
    repo_id: str,
    num_episodes: int,
    placements: list[int],
    image_size: int | None,
    fps: int,
    extra_frames_after_success: int,
    max_steps: int,
    seed: int,
    execution_noise: float,
) -> dict[str, Any]:
    params = {
        "generator_version": GENERATOR_VERSION,
        "task_name": task_name,
        "task": task_description(task_name),
        "repo_id": repo_id,
        "num_episodes": num_episodes,
        "placements": [int(p) for p in placements[:num_episodes]],
        "image_size": image_size,
        "vcodec": _video_codec(image_size),
        "fps": fps,
        "extra_frames_after_success": extra_frames_after_success,
        "max_steps": max_steps,
        "seed": seed,
        "execution_noise": execution_noise,
        # Physics or writer changes alter the recorded data, so versions are part of the cache key.
        "versions": {pkg: metadata.version(pkg) for pkg in ("metaworld", "mujoco", "lerobot")},
    }
    return json.loads(json.dumps(params))  # normalise to what a JSON round trip yields


def generate_task_dataset(
    task_name: str,
    repo_id: str,
    root: Path,
    num_episodes: int,
    placements: list[int],
    image_size: int | None = None,
    fps: int = METAWORLD_FPS,
    extra_frames_after_success: int = 10,
    max_steps: int = 200,
    seed: int = 0,
    execution_noise: float = 0.0,
) -> Path:
    """Record `num_episodes` expert episodes on `placements[:num_episodes]` into a new dataset at `root`.

    `fps` defaults to Meta-World's control frequency (80 Hz): lerobot turns ACT's chunk offsets into
    timestamps with it, and a different value would mislabel the real time between frames.
    `execution_noise` (see `record_expert_episode`) is drawn from (seed, placement, attempt); a noisy
    episode that misses success within `max_steps` is re-recorded with the next draw, up to
    NOISY_ATTEMPTS times. Raises RuntimeError if the expert still fails a placement (noise-free, it
    succeeds on all 50 of the tested tasks).
    """
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    root = Path(root)
    if len(placements) < num_episodes:
        raise ValueError(f"{num_episodes} episodes need as many placements, got {len(placements)}")
    if root.exists():
        raise FileExistsError(f"{root} exists; lerobot's writer needs a fresh directory (see ensure_dataset)")
    params = _generation_params(
        task_name, repo_id, num_episodes, placements, image_size, fps,
        extra_frames_after_success, max_steps, seed, execution_noise,
    )  # fmt: skip
    start = time.perf_counter()
    with MetaWorldSim(task_name, image_size=image_size, seed=seed) as sim:
        if max_steps > sim.max_path_length:
            raise ValueError(f"max_steps {max_steps} exceeds Meta-World's limit {sim.max_path_length}")
        if abs(fps - sim.fps) > 1e-6:
            logger.warning("fps=%s differs from Meta-World's control frequency %.1f Hz", fps, sim.fps)
        dataset = LeRobotDataset.create(
            repo_id=repo_id,
            fps=fps,
            root=root,
            robot_type="sawyer",
            features=dataset_features(image_size),
            use_videos=True,
            **video_codec_options(params["vcodec"] or "libsvtav1"),
        )
        _record_all(sim, dataset, params, root)
    # Written last: its presence marks a complete dataset for ensure_dataset.
    tmp = root / f"{GENERATION_FILE}.tmp"
    tmp.write_text(json.dumps(params, indent=2))
    tmp.replace(root / GENERATION_FILE)
    logger.info(
        "Generated %s (%d episodes, %d frames) in %.1fs",
        root, num_episodes, dataset.meta.total_frames, time.perf_counter() - start,
    )  # fmt: skip
    return root


def _record_all(sim: MetaWorldSim, dataset, params: dict, root: Path) -> None:
    """Every placement's episode into the open writer, finalized; on any failure the half-written
    dataset is removed (the original error is kept, not a writer-close one)."""
    try:
        for placement in params["placements"]:
            frames = _record_placement(sim, params, placement)
            for frame in frames:
                dataset.add_frame({**frame, "task": params["task"]})
            dataset.save_episode()
            logger.debug("%s placement %d: %d frames", params["task_name"], placement, len(frames))
    except BaseException:
        with contextlib.suppress(Exception):
            dataset.finalize()
        shutil.rmtree(root, ignore_errors=True)
        raise
    dataset.finalize()


def _record_placement(sim: MetaWorldSim, params: dict, placement: int) -> list[dict]:
    """One expert episode on `placement`; a noisy one that misses success is re-recorded with the next
    draw of (seed, placement, attempt), up to NOISY_ATTEMPTS times."""
    noise, max_steps = params["execution_noise"], params["max_steps"]
    for attempt in range(NOISY_ATTEMPTS if noise > 0 else 1):
        rng = np.random.default_rng([params["seed"], placement, attempt])
        frames = record_expert_episode(
            sim, placement, max_steps, params["extra_frames_after_success"], noise, rng
        )
        if frames is not None:
            return frames
    raise RuntimeError(f"expert failed {params['task_name']} placement {placement} in {max_steps} steps")


def ensure_dataset(
    task_name: str,
    repo_id: str,
    root: Path,
    num_episodes: int,
    placements: list[int],
    image_size: int | None = None,
    fps: int = METAWORLD_FPS,
    extra_frames_after_success: int = 10,
    max_steps: int = 200,
    seed: int = 0,
    execution_noise: float = 0.0,
) -> Path:
    """`generate_task_dataset` unless `root` already holds a complete dataset made with the same params."""
    root = Path(root)
    params = _generation_params(
        task_name, repo_id, num_episodes, placements, image_size, fps,
        extra_frames_after_success, max_steps, seed, execution_noise,
    )  # fmt: skip
    marker = root / GENERATION_FILE
    if (root / "meta" / "info.json").is_file() and marker.is_file():
        try:
            cached = json.loads(marker.read_text())
        except json.JSONDecodeError:
            cached = None
        if cached == params:
            logger.info("Reusing cached dataset %s", root)
            return root
    if root.exists():
        # Only delete what looks like one of ours, never an arbitrary user directory.
        if not (marker.exists() or (root / "meta").is_dir() or not any(root.iterdir())):
            raise FileExistsError(f"{root} exists and is not a generated dataset; refusing to overwrite")
        logger.info("Regenerating stale or incomplete dataset %s", root)
        shutil.rmtree(root)
    return generate_task_dataset(
        task_name, repo_id, root, num_episodes, placements, image_size, fps,
        extra_frames_after_success, max_steps, seed, execution_noise,
    )  # fmt: skip


def generate_demo_suite(
    base_dir: Path,
    tasks: list[str],
    episodes_per_task: int,
    image_size: int | None,
    seed: int,
    *,
    extra_frames_after_success: int = 10,
    max_steps: int = 200,
    execution_noise: float = 0.0,
    num_eval: int = 10,
) -> dict[str, Path]:
    """One cached dataset per task at `base_dir/metaworld_<task>` (repo_id `local/metaworld_<task>`).

    Training placements are `split_placements(episodes_per_task, num_eval)[0]`: never one of the last
    `num_eval` placements of the seed, which evaluation uses.
    """
    train, _ = split_placements(episodes_per_task, num_eval)
    roots: dict[str, Path] = {}
    for task_name in tasks:
        roots[task_name] = ensure_dataset(
            task_name=task_name,
            repo_id=f"local/metaworld_{task_name}",
            root=Path(base_dir) / f"metaworld_{task_name}",
            num_episodes=episodes_per_task,
            placements=train,
            image_size=image_size,
            fps=METAWORLD_FPS,
            extra_frames_after_success=extra_frames_after_success,
            max_steps=max_steps,
            seed=seed,
            execution_noise=execution_noise,
        )
    return roots
