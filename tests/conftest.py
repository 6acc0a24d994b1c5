from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from builders import build_dataset  # noqa: E402


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """Three same-schema video datasets (different lengths, tasks, ranges) plus odd ones for errors."""
    base = tmp_path_factory.mktemp("datasets")
    build_dataset(base / "lab/sess_a", "lab/sess_a", [10, 7, 12], tasks=["pick", "place"], seed=1)
    build_dataset(
        base / "lab/sess_b", "lab/sess_b", [5, 9, 6, 4], tasks=["place", "stack"], seed=2, offset=3.0
    )
    build_dataset(base / "lab/sess_c", "lab/sess_c", [8, 11], tasks=["pick"], seed=3, offset=-1.0)
    build_dataset(
        base / "lab/extra",
        "lab/extra",
        [6, 5],
        tasks=["wipe"],
        seed=4,
        extra={"observation.extra": 2},
        robot_type="koch",
    )
    build_dataset(base / "lab/fps15", "lab/fps15", [6], fps=15, seed=5)
    build_dataset(base / "lab/wide", "lab/wide", [6], state_dim=14, action_dim=14, seed=6)
    build_dataset(base / "lab/nocam", "lab/nocam", [5, 5], camera=None, seed=7)
    build_dataset(
        base / "lab/other",
        "lab/other",
        [5],
        camera=None,
        state_key="observation.joints",
        action_key="joint_targets",
    )
    env = {"observation.environment_state": 3}  # ACT needs an image or an environment state
    build_dataset(
        base / "lab/arm_small", "lab/arm_small", [20, 15], camera=None, robot_type="arm_a", seed=9, extra=env
    )
    build_dataset(
        base / "lab/arm_big",
        "lab/arm_big",
        [25],
        camera=None,
        robot_type="arm_b",
        seed=10,
        offset=50.0,
        extra=env,
    )
    build_dataset(base / "lab/fixedcam", "lab/fixedcam", [7, 5], camera="observation.images.fixed", seed=11)
    build_dataset(base / "lab/images", "lab/images", [6, 4], camera_dtype="image", seed=8)
    # subtasks as annotation tools write them: [reach, grasp] and [grasp, lift] (index 0 differs)
    build_dataset(base / "lab/sub_a", "lab/sub_a", [7, 5], camera=None, subtasks=["reach", "grasp"], seed=12)
    build_dataset(base / "lab/sub_b", "lab/sub_b", [6, 8], camera=None, subtasks=["grasp", "lift"], seed=13)
    return base


SAME = ["lab/sess_a", "lab/sess_b", "lab/sess_c"]


def tree_hash(root: Path) -> dict[str, str]:
    """Content hash of every file under root: reading a dataset must not change any of them."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def copy_of(data_root, tmp_path):
    """copy_of(repo_id) -> (a root holding a copy of that dataset, the copy's folder): to damage safely."""

    def make(repo_id: str):
        dst = tmp_path / "copies" / repo_id
        shutil.copytree(data_root / repo_id, dst)
        return tmp_path / "copies", dst

    return make
