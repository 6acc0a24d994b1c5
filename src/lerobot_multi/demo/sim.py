"""Meta-World as the demo sees it: one task's simulator, its fixed placements and the feature layout.

Meta-World's 39-d observation (MT1 makes the goal observable):
  [0:3] hand xyz, [3] gripper opening in [0, 1], [4:7] object xyz, [7:11] object quaternion,
  [11:18] second object (zero padded), [18:36] the previous frame, [36:39] goal xyz.

Placements: MT1 yields 50 fixed object/goal placements per seed. Placement p is placement p % 50 of
MT1(seed + p // 50), so 0-49 are the seed's own (the last ones are held out for evaluation) and 50, 51, ...
supply as many further training placements as a setting needs.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from typing import Any

# MuJoCo picks its GL backend when first imported: default to headless EGL unless the caller chose.
os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

NUM_PLACEMENTS = 50  # MT1 always yields 50 fixed object/goal placements per task
CAMERA_NAME = "corner2"
# lerobot's MetaworldEnv moves corner2 closer; without it objects are a few pixels wide at 64-96 px.
CORNER2_POS = (0.75, 0.075, 0.7)
METAWORLD_FPS = 80  # control period = frame_skip (5) x timestep (2.5 ms) = 12.5 ms
STATE_KEY = "observation.state"
ENV_STATE_KEY = "observation.environment_state"
IMAGE_KEY = "observation.image"
ACTION_KEY = "action"
STATE_NAMES = ["hand_x", "hand_y", "hand_z", "gripper"]
ENV_STATE_NAMES = ["object_x", "object_y", "object_z", "goal_x", "goal_y", "goal_z"]
ACTION_NAMES = ["delta_x", "delta_y", "delta_z", "gripper_effort"]


def task_description(task_name: str) -> str:
    """Natural-language task string, taken from lerobot's Meta-World table so it matches lerobot's env."""
    try:
        table = json.loads(resources.files("lerobot.envs").joinpath("metaworld_config.json").read_text())
        return str(table["TASK_DESCRIPTIONS"][task_name])
    except (FileNotFoundError, KeyError, ModuleNotFoundError):
        return task_name.removesuffix("-v3").replace("-", " ")


def dataset_features(image_size: int | None) -> dict[str, dict[str, Any]]:
    """LeRobot feature spec of the recorded datasets (shared with the evaluator)."""
    features: dict[str, dict[str, Any]] = {
        STATE_KEY: {"dtype": "float32", "shape": (len(STATE_NAMES),), "names": STATE_NAMES},
        ENV_STATE_KEY: {"dtype": "float32", "shape": (len(ENV_STATE_NAMES),), "names": ENV_STATE_NAMES},
        ACTION_KEY: {"dtype": "float32", "shape": (len(ACTION_NAMES),), "names": ACTION_NAMES},
    }
    if image_size is not None:
        features[IMAGE_KEY] = {
            "dtype": "video",
            "shape": (image_size, image_size, 3),
            "names": ["height", "width", "channels"],
        }
    return features


def split_placements(num_train: int, num_eval: int | None = None) -> tuple[list[int], list[int]]:
    """Held-out placements are the last `num_eval` of the seed's 50 (default: all those not trained on);
    training takes the first `num_train` of the others, continuing past 49 into the next seeds' MT1."""
    num_eval = max(NUM_PLACEMENTS - num_train, 0) if num_eval is None else num_eval
    if num_train < 0 or not 0 <= num_eval <= NUM_PLACEMENTS:
        raise ValueError(
            f"need num_train >= 0 and 0 <= num_eval <= {NUM_PLACEMENTS}, got {num_train}, {num_eval}"
        )
    held_out = list(range(NUM_PLACEMENTS - num_eval, NUM_PLACEMENTS))
    train = (
        list(range(NUM_PLACEMENTS - num_eval)) + list(range(NUM_PLACEMENTS, NUM_PLACEMENTS + num_train))
    )[:num_train]
    return train, held_out


class MetaWorldSim:
    """One Meta-World task with fixed MT1 placements, fast rendering and the recorder's observation layout."""

    def __init__(self, task_name: str, image_size: int | None = None, seed: int = 0) -> None:
        import metaworld

        self.task_name = task_name
        self.image_size = image_size
        self.seed = seed
        benchmark = metaworld.MT1(task_name, seed=seed)
        self._placements = {0: benchmark.train_tasks}  # by seed offset, further MT1s built on demand
        kwargs: dict[str, Any] = {}
        if image_size is not None:
            kwargs = {"render_mode": "rgb_array", "camera_name": CAMERA_NAME}
            kwargs.update(width=image_size, height=image_size)
        self.env = benchmark.train_classes[task_name](**kwargs)
        self._viewer: Any = None
        if image_size is not None:
            self._setup_rendering()

    def _setup_rendering(self) -> None:
        import mujoco

        model = self.env.model
        model.cam_pos[model.camera(CAMERA_NAME).id] = CORNER2_POS
        # Multisampling dominates render time on CPU GL (62 -> 9 ms at 96 px); it is read when the GL
        # context is created, so it must be set before the viewer below exists.
        model.vis.quality.offsamples = 0
        self._viewer = self.env.mujoco_renderer._get_viewer("rgb_array")
        self._viewer.scn.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        self._viewer.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0

    @property
    def fps(self) -> float:
        return 1.0 / float(self.env.dt)

    @property
    def max_path_length(self) -> int:
        return int(self.env.max_path_length)

    def reset(self, placement: int) -> np.ndarray:
        if placement < 0:
            raise ValueError(f"placement must be >= 0, got {placement}")
        offset, index = divmod(placement, NUM_PLACEMENTS)
        if offset not in self._placements:
            import metaworld

            self._placements[offset] = metaworld.MT1(self.task_name, seed=self.seed + offset).train_tasks
        # set_task freezes the placement's random vector, so reset() lands on exactly that placement.
        self.env.set_task(self._placements[offset][index])
        obs, _ = self.env.reset()
        return obs

    def step(self, action: np.ndarray) -> tuple[np.ndarray, bool]:
        obs, _reward, _terminated, _truncated, info = self.env.step(action)
        return obs, bool(info["success"])

    def render(self) -> np.ndarray:
        # gymnasium makes a viewer's GL context current only once; with several envs alive in one
        # process the last created context wins and older envs render garbage, so re-bind each time.
        self._viewer.make_context_current()
        image = self.env.render()
        return np.ascontiguousarray(image[::-1, ::-1])  # corner2 renders upside-down on both axes

    def observe(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        """Dataset-layout features for the current state (renders when images are enabled)."""
        frame = {
            STATE_KEY: obs[:4].astype(np.float32),
            ENV_STATE_KEY: np.concatenate([obs[4:7], obs[36:39]]).astype(np.float32),
        }
        if self.image_size is not None:
            frame[IMAGE_KEY] = self.render()
        return frame

    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> MetaWorldSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
