"""Community-shaped LeRobot datasets, written with lerobot's own writer: the variety a pretraining mix
of hub datasets has (camera names and counts, frame rates, 6- and 14-dof robots, v2.1 beside v3.0,
free-text and empty tasks) and its flaws (a NaN frame, an episode of two frames, a video shorter than
its metadata, a dataset that does not open).

A `Shape` says how one dataset was recorded; `COMMUNITY_SHAPES` cycles through the variety, and
`build_mix` writes a mix of them. To add a shape, add a `Shape` (and, for a new flaw, a branch in
`apply_flaw`). Tests (tests/test_community.py) and benchmarks (benchmarks/bench_community.py) use it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

V21 = Path(__file__).parent / "fixtures" / "v21" / "v21"  # lerobot 0.3.3's writer: video, state
FLAWS = ("nan", "short_episode", "short_video", "broken")


@dataclasses.dataclass(frozen=True)
class Shape:
    """How one community dataset was recorded. `cameras` are the suffixes of `observation.images.*`;
    `flaw` is one of FLAWS or None; `v21` copies a v2.1 fixture of lerobot 0.3.3's instead (so100,
    6-dof, 30 fps, one camera `top`, 32x32; state-only: no camera, 3 episodes)."""

    robot_type: str = "so100"
    dof: int = 6
    fps: int = 30
    cameras: tuple[str, ...] = ("laptop", "phone")
    lengths: tuple[int, ...] = (14, 12)
    tasks: tuple[str, ...] = ("Pick up the red cube and put it in the bowl.",)
    flaw: str | None = None
    v21: bool = False


COMMUNITY_SHAPES = (
    Shape(),  # SO-100 with the recorder's default names
    Shape(cameras=("front", "wrist"), tasks=("grasp the pen", "Put the pen in the cup")),
    Shape(robot_type="koch", cameras=("top", "gripper"), fps=15, tasks=("",)),
    Shape(
        robot_type="aloha", dof=14, cameras=("cam_high", "cam_left_wrist"), fps=25, tasks=("fold the towel",)
    ),
    Shape(cameras=("phone",), tasks=("stack the blocks",)),
    Shape(v21=True),
)


TOP, WRIST = "observation.images.top", "observation.images.wrist"
# SmolVLA's authors mapped each dataset's cameras to slots by hand; here one rule per name pattern
# (examples/community_mix.yaml holds the same rules)
RULES = {
    "*": {
        "*laptop*": TOP,
        "*front*": TOP,
        "*cam_high*": TOP,
        "*phone*": WRIST,
        "*wrist*": WRIST,
        "*gripper*": WRIST,
    }
}
# one dataset per flaw
FLAWED = [
    ("community/flaw_nan", Shape(flaw="nan")),
    ("community/flaw_short", Shape(flaw="short_episode", cameras=("front", "wrist"))),
    ("community/flaw_video", Shape(flaw="short_video", cameras=("top", "wrist"))),
    ("community/flaw_broken", Shape(flaw="broken")),
]


def build_community(
    root: Path,
    repo_id: str,
    shape: Shape,
    *,
    image_size: int | tuple[int, int] = 32,
    state_only: bool = False,
    seed: int = 0,
) -> Path:
    """Write `repo_id` of `shape` under `root/repo_id` (lerobot's writer; v2.1: a copy of the fixture).
    `image_size`: square side or (height, width) of every camera."""
    folder = Path(root) / repo_id
    if shape.v21:
        shutil.copytree(V21 / ("state" if state_only else "video"), folder)
        return apply_flaw(folder, shape)
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dims = {"observation.state": shape.dof, "action": shape.dof}
    features = {
        k: {"dtype": "float32", "shape": (d,), "names": [f"j{i}" for i in range(d)]} for k, d in dims.items()
    }
    cameras = () if state_only else shape.cameras
    hw = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    for cam in cameras:
        features[f"observation.images.{cam}"] = {
            "dtype": "video",
            "shape": (*hw, 3),
            "names": ["height", "width", "channels"],
        }
    ds = LeRobotDataset.create(
        repo_id=repo_id,
        fps=shape.fps,
        root=folder,
        robot_type=shape.robot_type,
        features=features,
        use_videos=bool(cameras),
        image_writer_threads=0,
    )
    rng = np.random.default_rng(seed)
    lengths = (*shape.lengths, 2) if shape.flaw == "short_episode" else shape.lengths
    for ep, length in enumerate(lengths):
        for t in range(length):
            frame = {k: (rng.normal(size=d) + t * 0.01).astype(np.float32) for k, d in dims.items()}
            if shape.flaw == "nan" and ep == 1 and t == 3:
                frame["observation.state"][0] = np.nan
            frame["task"] = shape.tasks[ep % len(shape.tasks)]
            for c, cam in enumerate(cameras):
                level = (ep * 37 + t * 5 + c * 60 + seed * 11) % 200 + 20
                frame[f"observation.images.{cam}"] = np.full((*hw, 3), level, np.uint8)
            ds.add_frame(frame)
        ds.save_episode()
    ds.finalize()
    return apply_flaw(folder, shape)


def apply_flaw(folder: Path, shape: Shape) -> Path:
    """The flaws a writer cannot make: a video cut short, an info.json without its fps."""
    videos = sorted(folder.glob("videos/**/*.mp4"))
    if shape.flaw == "short_video" and videos:  # state-only: no video to cut
        cut_video(videos[-1], drop_frames=4)
    elif shape.flaw == "broken":
        info_path = folder / "meta" / "info.json"
        info = json.loads(info_path.read_text())
        del info["fps"]
        info_path.write_text(json.dumps(info, indent=4))
    return folder


def cut_video(path: Path, drop_frames: int) -> None:
    """Remux `path` without its last `drop_frames` frames (packets copied, nothing re-encoded), as a
    recording cut short leaves it."""
    import av

    with av.open(str(path)) as src:
        stream = src.streams.video[0]
        packets = [p for p in src.demux(stream) if p.dts is not None]
        keep = sorted(p.pts for p in packets)[: -drop_frames or None]
        cut = Path(str(path) + ".cut.mp4")
        with av.open(str(cut), "w") as dst:
            out = dst.add_stream_from_template(stream, opaque=True)
            for p in packets:
                if p.pts <= keep[-1]:
                    p.stream = out
                    dst.mux(p)
    cut.replace(path)


def community_ids(count: int, org: str = "community") -> list[tuple[str, Shape]]:
    """`count` (repo_id, shape) pairs cycling through `COMMUNITY_SHAPES`."""
    return [
        (f"{org}/{s.robot_type}_{'v21' if s.v21 else 'v30'}_{i:04d}", s)
        for i, s in ((i, COMMUNITY_SHAPES[i % len(COMMUNITY_SHAPES)]) for i in range(count))
    ]


def build_mix(
    root: Path,
    pairs: Sequence[tuple[str, Shape]],
    *,
    image_size: int | tuple[int, int] = 32,
    state_only: bool = False,
) -> list[str]:
    """Write every (repo_id, shape) not yet under `root`; their repo ids."""
    for i, (rid, shape) in enumerate(pairs):
        if not (Path(root) / rid / "meta" / "info.json").exists():
            build_community(root, rid, shape, image_size=image_size, state_only=state_only, seed=i)
    return [rid for rid, _ in pairs]
