"""A community-shaped mix (tests/community.py) in one config: camera names mapped by rules, missing
cameras filled, 6- and 14-dof padded, 15/25/30 fps, v2.1 beside v3.0, free-text and empty tasks, and its
flaws left out by `on_error: skip` with the episode checks (meta/quality.py)."""

from __future__ import annotations

import logging

import pytest
import torch
from community import FLAWED, RULES, TOP, WRIST, Shape, build_mix, community_ids
from helpers import assert_same

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.inspect.info_table import format_report, mixture_report
from lerobot_multi.meta.sources import DatasetSourceError

MIX = dict(
    rename_map=RULES,
    fill_missing_cameras=True,
    pad_vectors=True,
    mixed_fps=True,
    normalization_mode="per_robot",
    on_error="skip",
    max_skipped=0.3,
    episode_checks=["short", "non_finite", "video_frames"],
    min_episode_frames=4,
)


@pytest.fixture(scope="module")
def community(tmp_path_factory):
    root = tmp_path_factory.mktemp("community")
    return root, build_mix(root, community_ids(6) + FLAWED)


def test_rules_checks_and_skip_on_a_community_mix(community, caplog):
    root, ids = community
    with caplog.at_level(logging.WARNING):
        ds = MultiLeRobotDataset(ids, root=root, **MIX)
    assert [s.repo_id for s in ds.meta.skipped] == ["community/flaw_broken"]
    assert "'fps' missing" in ds.meta.skipped[0].reason
    left_out = {(s.repo_id, s.episode): s.reason.split(":")[0] for s in ds.meta.skipped_episodes}
    assert left_out == {
        ("community/flaw_nan", 1): "non_finite",
        ("community/flaw_short", 2): "short",
        ("community/flaw_video", 1): "video_frames",
    }
    assert "1 episodes left out (dataset.episode_checks)" in caplog.text
    # the rules gave every dataset the two slots; the v2.1 dataset's `top` stays `top`
    renames = ds.meta.rename_map
    assert renames["community/aloha_v30_0003"] == {
        "observation.images.cam_high": TOP,
        "observation.images.cam_left_wrist": WRIST,
    }
    assert renames["community/so100_v21_0005"] == {} and renames["community/koch_v30_0002"] == {
        "observation.images.gripper": WRIST
    }
    assert ds.meta.schema.filled == {TOP: ["community/so100_v30_0004"], WRIST: ["community/so100_v21_0005"]}
    assert ds.meta.shapes["action"] == (14,) and "" in set(ds.meta.tasks.index)
    stats = ds.meta.stats["observation.state"]
    assert all(torch.isfinite(torch.as_tensor(stats[k])).all() for k in ("min", "max", "mean", "std"))

    # the same mixture written out by hand, dataset by dataset, reads the same samples
    kept = [r for r in ids if r != "community/flaw_broken"]
    by_hand = MultiLeRobotDataset(
        kept,
        root=root,
        episodes={"community/flaw_nan": [0], "community/flaw_short": [0, 1], "community/flaw_video": [0]},
        **(MIX | {"rename_map": {r: renames[r] for r in kept}, "on_error": "raise", "episode_checks": []}),
    )
    assert len(by_hand) == len(ds) and by_hand.meta.total_episodes == ds.meta.total_episodes
    for i in range(0, len(ds), 17):
        assert_same(ds[i], by_hand[i], i)


def test_info_names_the_rule_and_what_was_left_out(community):
    root, ids = community
    report = mixture_report(MultiLeRobotDataset(ids, root=root, **MIX).meta)
    assert report["renames"]["community/so100_v30_0000"] == {
        "observation.images.laptop": {"to": TOP, "rule": "rename_map['*']['*laptop*']"},
        "observation.images.phone": {"to": WRIST, "rule": "rename_map['*']['*phone*']"},
    }
    text = format_report(report)
    assert "community/aloha_v30_0003: observation.images.cam_left_wrist -> observation.images.wrist" in text
    assert "(rename_map['*']['*wrist*'])" in text
    assert "left out (dataset.episode_checks), 3 episodes:" in text
    assert "community/flaw_video episode 1: video_frames: observation.images.wrist holds 8 of" in text


def test_an_exact_rule_beats_the_pattern(community):
    root, ids = community
    rules = {**RULES, "community/so100_v30_0004": {"observation.images.phone": TOP}}
    ds = MultiLeRobotDataset(ids[:5], root=root, **(MIX | {"rename_map": rules}))
    assert ds.meta.rename_map["community/so100_v30_0004"] == {"observation.images.phone": TOP}
    rule = mixture_report(ds.meta)["renames"]["community/so100_v30_0004"]["observation.images.phone"]
    assert rule == {"to": TOP, "rule": "rename_map['community/so100_v30_0004']['observation.images.phone']"}


@pytest.mark.parametrize(
    ("repo_id", "check", "message"),
    [
        (
            "community/flaw_nan",
            "non_finite",
            r"'community/flaw_nan' episode 1: non_finite: NaN or inf in observation.state",
        ),
        (
            "community/flaw_short",
            "short",
            r"'community/flaw_short' episode 2: short: 2 frames < dataset.min_episode_frames=4",
        ),
        (
            "community/flaw_video",
            "video_frames",
            r"'community/flaw_video' episode 1: video_frames: observation.images.wrist holds 8",
        ),
    ],
)
def test_a_failed_check_stops_the_opening_without_skip(community, repo_id, check, message):
    root, _ = community
    with pytest.raises(DatasetSourceError, match=message):
        MultiLeRobotDataset([repo_id], root=root, episode_checks=[check], min_episode_frames=4)


def test_non_finite_data_without_the_check(community):
    """NaN in a frame makes the dataset's stats NaN: refused by default, left out whole with skip."""
    root, ids = community
    with pytest.raises(
        DatasetSourceError, match=r"'community/flaw_nan': stats for 'observation.state'/\w+ contain NaN"
    ):
        MultiLeRobotDataset(["community/flaw_nan"], root=root)
    ds = MultiLeRobotDataset(
        ids[:5] + ["community/flaw_nan"],
        root=root,
        on_error="skip",
        max_skipped=0.2,
        pad_vectors=True,
        mixed_fps=True,
    )
    assert [s.repo_id for s in ds.meta.skipped] == ["community/flaw_nan"]


def test_bad_checks_and_shares_are_named(community):
    root, ids = community
    with pytest.raises(
        DatasetSourceError,
        match=r"dataset.episode_checks = 'nan': expected one of short, non_finite, video_frames",
    ):
        MultiLeRobotDataset(ids[:2], root=root, episode_checks=["nan"])
    with pytest.raises(
        DatasetSourceError, match=r"dataset.min_episode_frames = 0: expected a whole number >= 1"
    ):
        MultiLeRobotDataset(ids[:2], root=root, episode_checks=["short"], min_episode_frames=0)
    with pytest.raises(DatasetSourceError, match=r"'short' needs dataset.min_episode_frames"):
        MultiLeRobotDataset(ids[:2], root=root, episode_checks=["short"])
    with pytest.raises(DatasetSourceError, match=r"dataset.max_skipped = 1.5: expected a share in \[0, 1\]"):
        MultiLeRobotDataset(ids[:2], root=root, on_error="skip", max_skipped=1.5)
    # a feature pattern that puts aloha's two cameras in one slot
    with pytest.raises(
        DatasetSourceError, match=r"rename_map\['community/aloha_v30_0003'\]: several keys renamed to"
    ):
        MultiLeRobotDataset(["community/aloha_v30_0003"], root=root, rename_map={"*": {"*cam_*": WRIST}})
    # 2 of 4 episodes short: more than the 10% of episodes a run may lose by default
    with pytest.raises(
        DatasetSourceError,
        match=r"2 of 4 episodes failed dataset.episode_checks, more than dataset.max_skipped=0.1",
    ):
        MultiLeRobotDataset(
            ids[:2], root=root, on_error="skip", episode_checks=["short"], min_episode_frames=14
        )


def test_a_dataset_left_out_whole_reports_no_episodes(community, tmp_path):
    """Episode 0 is short, episode 1 has a NaN: with only `short` checked, the NaN stats leave the whole
    dataset out, and its short episode is not reported as well (the held-out split reads that list)."""
    root, ids = community
    build_mix(tmp_path, [("community/short_and_nan", Shape(flaw="nan", lengths=(3, 14)))])
    roots = {r: root / r for r in ids[:2]} | {"community/short_and_nan": tmp_path / "community/short_and_nan"}
    ds = MultiLeRobotDataset(
        list(roots),
        root=roots,
        on_error="skip",
        max_skipped=0.5,
        episode_checks=["short"],
        min_episode_frames=4,
    )
    assert [s.repo_id for s in ds.meta.skipped] == ["community/short_and_nan"]
    assert "contain NaN" in ds.meta.skipped[0].reason and ds.meta.skipped_episodes == []
