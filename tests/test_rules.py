"""Rules instead of lists: glob patterns over repo ids as keys of per-dataset options, and renames by
feature-name pattern (meta/rules.py has the precedence)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAME

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.meta import rules
from lerobot_multi.meta.sources import DatasetSourceError, per_dataset

IDS = ["lab/so100_a", "lab/so100_b", "lab/aloha_c"]


def test_an_exact_id_beats_patterns_and_later_patterns_beat_earlier():
    value = {"*": 1.0, "lab/so100_*": 2.0, "lab/so100_b": 5.0}
    assert per_dataset("weights", value, IDS) == {"lab/so100_a": 2.0, "lab/so100_b": 5.0, "lab/aloha_c": 1.0}
    assert per_dataset("weights", {"lab/so100_*": 2.0, "*": 1.0}, IDS)["lab/so100_a"] == 1.0


def test_mapping_options_merge_matching_rules_key_by_key():
    value = {
        "*": {"observation.images.laptop": "observation.images.top"},
        "lab/so100_b": {"observation.images.phone": "observation.images.wrist"},
    }
    merged = per_dataset("rename_map", value, IDS)
    assert merged["lab/so100_b"] == {
        "observation.images.laptop": "observation.images.top",
        "observation.images.phone": "observation.images.wrist",
    }
    assert merged["lab/aloha_c"] == {"observation.images.laptop": "observation.images.top"}
    with pytest.raises(DatasetSourceError, match=r"dataset.rename_map: the entries for \['lab/so100_a'\]"):
        per_dataset("rename_map", {"*": {"a": "b"}, "lab/so100_a": "oops"}, IDS)


def test_patterns_that_match_nothing_or_name_folders_are_errors():
    with pytest.raises(
        DatasetSourceError, match=r"dataset.weights: patterns \['other/\*'\] match no dataset"
    ):
        per_dataset("weights", {"other/*": 1.0}, IDS)
    with pytest.raises(DatasetSourceError, match=r"dataset.root: patterns \['lab/\*'\] are not allowed"):
        per_dataset("root", {"lab/*": "/data"}, IDS)


def test_feature_patterns_rename_what_they_match():
    features = ["observation.images.gripper_cam", "observation.images.front", "observation.state"]
    renames = {"*gripper*": "observation.images.wrist", "*.front": "observation.images.top"}
    assert rules.resolve_renames(renames, features) == {
        "observation.images.gripper_cam": "observation.images.wrist",
        "observation.images.front": "observation.images.top",
    }
    assert rules.resolve_renames({"*wrist*": "observation.images.wrist"}, ["observation.images.wrist"]) == {}


def test_explain_renames_names_the_rule_that_won():
    """`explain_renames` agrees with `resolve` + `resolve_renames`, and names the winning entry."""
    features = ["observation.images.cam_left_wrist", "observation.images.cam_high", "observation.state"]
    value = {
        "*": {"*wrist*": "observation.images.wrist", "*cam_high*": "observation.images.top"},
        "lab/aloha_*": {"*cam_high*": "observation.images.side"},
        "lab/aloha_c": {"observation.images.cam_left_wrist": "observation.images.left"},
    }
    explained = rules.explain_renames(value, "lab/aloha_c", features)
    assert explained == {
        "observation.images.cam_left_wrist": (
            "observation.images.left",
            "rename_map['lab/aloha_c']['observation.images.cam_left_wrist']",
        ),
        "observation.images.cam_high": ("observation.images.side", "rename_map['lab/aloha_*']['*cam_high*']"),
    }
    resolved = rules.resolve_renames(per_dataset("rename_map", value, IDS)["lab/aloha_c"], features)
    assert resolved == {old: new for old, (new, _) in explained.items()}
    assert rules.explain_renames(None, "lab/aloha_c", features) == {}


def test_rules_reach_the_mixture(data_root):
    """One rule maps lab/fixedcam's `fixed` camera to `top`: the camera is then common, not disabled;
    patterned weights give the shares."""
    ds = MultiLeRobotDataset(
        ["lab/sess_a", "lab/fixedcam"],
        root=data_root,
        rename_map={"*": {"*.fixed": "observation.images.top"}},
        weights={"lab/*": 1.0, "lab/fixedcam": 3.0},
    )
    assert ds.meta.rename_map == {
        "lab/sess_a": {},
        "lab/fixedcam": {"observation.images.fixed": "observation.images.top"},
    }
    assert "observation.images.top" in ds.meta.camera_keys and not ds.disabled_features
    np.testing.assert_allclose(ds.sampling_shares, [0.25, 0.75])
    assert ds[len(ds) - 1]["observation.images.top"].shape == ds[0]["observation.images.top"].shape
    with pytest.raises(DatasetSourceError, match=r"dataset.episodes: patterns \['lab/nothing\*'\] match no"):
        MultiLeRobotDataset(SAME, root=data_root, episodes={"lab/nothing*": [0]})


FIXED, TOP = "observation.images.fixed", "observation.images.top"


def test_a_plain_key_in_a_pattern_rule_renames_the_datasets_that_have_it(data_root):
    """The community rule: every camera alias once under a pattern. A dataset without the key is left
    as it is (it was an error naming that dataset's id, a key the user never wrote)."""
    ids = ["lab/sess_a", "lab/fixedcam"]
    ds = MultiLeRobotDataset(ids, root=data_root, rename_map={"lab/*": {FIXED: TOP}})
    assert ds.meta.rename_map == {"lab/sess_a": {}, "lab/fixedcam": {FIXED: TOP}}
    assert ds.camera_keys == [TOP] and ds.disabled_features == set()
    assert ds[len(ds) - 1][TOP].shape == ds[0][TOP].shape


@pytest.mark.parametrize(
    ("rename_map", "message"),
    [  # a typo no matched dataset has: the rule as written
        (
            {"lab/*": {"observation.images.fixd": TOP}},
            r"dataset.rename_map\['lab/\*'\]\['observation.images.fixd'\]: no dataset it matches has that key",
        ),
        # an exact repo id stays strict
        (
            {"lab/sess_a": {FIXED: TOP}},
            r"dataset.rename_map\['lab/sess_a'\]: lab/sess_a has no feature 'observation.images.fixed'",
        ),
    ],
)
def test_a_rename_no_dataset_can_take_is_an_error(data_root, rename_map, message):
    with pytest.raises(DatasetSourceError, match=message):
        MultiLeRobotDataset(["lab/sess_a", "lab/fixedcam"], root=data_root, rename_map=rename_map)
