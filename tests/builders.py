"""Real LeRobot v3.0 datasets on disk, written with lerobot's own writer (no mocks)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from lerobot.datasets.lerobot_dataset import LeRobotDataset


def build_dataset(
    root: Path,
    repo_id: str,
    lengths: Sequence[int],
    *,
    tasks: Sequence[str] = ("pick the cube",),
    fps: int = 30,
    state_dim: int = 6,
    action_dim: int = 6,
    camera: str | None = "observation.images.top",
    camera_dtype: str = "video",
    image_size: int = 64,
    robot_type: str = "so100",
    extra: dict[str, int] | None = None,
    seed: int = 0,
    offset: float = 0.0,
    state_key: str = "observation.state",
    action_key: str = "action",
    subtasks: Sequence[str] | None = None,
    task_of: Callable[[int, int], str] | None = None,
    depth: tuple[str, str, str] | None = None,
    file_size_mb: float | None = None,
) -> Path:
    """Episode i has lengths[i] frames and task tasks[i % len(tasks)]; values depend on seed/offset.

    `subtasks`: frames carry `subtask_index` (frame t of episode i: subtask (i + t // 3) % n) and
    meta/subtasks.parquet names them, as lerobot's annotation tools write them.
    `depth` = (key, "video" | "image", "mm" | "m"): a 1-channel depth camera (lerobot 0.6), uint16
    millimetres or float32 metres recorded, a ramp that grows with (episode, frame).
    `file_size_mb`: lerobot's data and video file size limit (tiny: about one episode a file).
    """
    features: dict[str, dict] = {
        state_key: {
            "dtype": "float32",
            "shape": (state_dim,),
            "names": [f"s{i}" for i in range(state_dim)],
        },
        action_key: {
            "dtype": "float32",
            "shape": (action_dim,),
            "names": [f"a{i}" for i in range(action_dim)],
        },
    }
    if camera is not None:
        features[camera] = {
            "dtype": camera_dtype,
            "shape": (image_size, image_size, 3),
            "names": ["height", "width", "channels"],
        }
    for key, dim in (extra or {}).items():
        features[key] = {"dtype": "float32", "shape": (dim,), "names": None}
    if depth is not None:
        features[depth[0]] = {
            "dtype": depth[1],
            "shape": (image_size // 2, image_size // 2, 1),
            "names": ["height", "width", "channels"],
            "info": {"is_depth_map": True},
        }
    if subtasks:
        features["subtask_index"] = {"dtype": "int64", "shape": (1,), "names": None}
    ds = LeRobotDataset.create(
        repo_id=repo_id,
        fps=fps,
        root=root,
        robot_type=robot_type,
        features=features,
        use_videos=camera_dtype == "video" or (depth is not None and depth[1] == "video"),
        image_writer_threads=0,
    )
    if file_size_mb is not None:
        ds.meta.update_chunk_settings(data_files_size_in_mb=file_size_mb, video_files_size_in_mb=file_size_mb)
    rng = np.random.default_rng(seed)
    for ep, length in enumerate(lengths):
        for t in range(length):
            frame = {
                state_key: (rng.normal(size=state_dim) + offset + t * 0.01).astype(np.float32),
                action_key: (rng.normal(size=action_dim) * 2 + offset).astype(np.float32),
                "task": tasks[ep % len(tasks)] if task_of is None else task_of(ep, t),
            }
            if camera is not None:
                # brightness encodes (episode, frame) so decoded frames can be matched to their source
                level = (ep * 37 + t * 5 + seed * 11) % 200 + 20
                frame[camera] = np.full((image_size, image_size, 3), level, dtype=np.uint8)
            for key, dim in (extra or {}).items():
                frame[key] = rng.normal(size=dim).astype(np.float32)
            if depth is not None:
                frame[depth[0]] = _depth_map(image_size // 2, ep * 100 + t * 20 + seed * 7, depth[2])
            if subtasks:
                frame["subtask_index"] = np.array([(ep + t // 3) % len(subtasks)], dtype=np.int64)
            ds.add_frame(frame)
        ds.save_episode()
    ds.finalize()
    if subtasks:
        table = pd.DataFrame({"subtask_index": np.arange(len(subtasks))}, index=list(subtasks))
        table.to_parquet(Path(root) / "meta" / "subtasks.parquet")
    return root


def _depth_map(size: int, shift: int, unit: str) -> np.ndarray:
    """A smooth depth ramp (cheap to encode) from 300 mm, in uint16 millimetres or float32 metres."""
    ramp = np.linspace(300.0, 4000.0, size * size, dtype=np.float32).reshape(size, size, 1) + shift
    return ramp.astype(np.uint16) if unit == "mm" else (ramp / 1000.0).astype(np.float32)
