"""Every example of the feature guide (spec/multi-dataset-guide.md), run against local datasets.

YAML blocks are copied verbatim; where they name hub datasets, parsing is checked, and the same shape
of config is then run on local datasets (only names and `root` differ: no hub access here).
"""

from __future__ import annotations

import textwrap

import pytest
import torch
import yaml
from conftest import SAME

from lerobot_multi import MixtureSpec, MultiTrainPipelineConfig, make_dataset

GUIDE_YAML = {
    "single": """
        # Single dataset (existing behavior)
        dataset:
          repo_id: "Mimic-Robotics/mimic_mobile_bimanual_drift_v1"
        """,
    "multi": """
        # Multi-dataset training (new feature)
        dataset:
          repo_id:
            - "Mimic-Robotics/mimic_mobile_bimanual_drift_v1"
            - "Mimic-Robotics/mimic_mobile_bimanual_drift_v2"
            - "Mimic-Robotics/mimic_mobile_bimanual_handover_v1"
        """,
    "imagenet": """
        dataset:
          use_imagenet_stats: true
        """,
    "versions": """
        dataset:
          repo_id:
            - "Mimic-Robotics/mimic_mobile_bimanual_handover_v1"
            - "Mimic-Robotics/mimic_mobile_bimanual_handover_v2"
            - "Mimic-Robotics/mimic_mobile_bimanual_handover_v3"
        """,
    "tasks": """
        dataset:
          repo_id:
            - "Mimic-Robotics/mimic_mobile_bimanual_handover_v1"
            - "Mimic-Robotics/mimic_mobile_bimanual_sorting_v1"
            - "Mimic-Robotics/mimic_mobile_bimanual_placement_v1"
        """,
    "filtering": """
        dataset:
          repo_id:
            - "Mimic-Robotics/dataset1"
            - "Mimic-Robotics/dataset2"
          episodes:
            "Mimic-Robotics/dataset1": [0, 1, 2, 3, 4]  # Use only first 5 episodes
            "Mimic-Robotics/dataset2": null  # Use all episodes
        """,
}

POLICY = "policy:\n  type: act\n  device: cpu\n  pretrained_backbone_weights: null\n  push_to_hub: false\n"


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).strip() + "\n" + POLICY)
    return str(path)


@pytest.mark.parametrize("name", [k for k in GUIDE_YAML if k != "imagenet"])
def test_guide_yaml_parses_verbatim(tmp_path, name):
    """Each block parses into exactly the datasets it names, in order, and each dataset's selection."""
    cfg = MultiTrainPipelineConfig.from_yaml(write(tmp_path, name, GUIDE_YAML[name]))
    written = yaml.safe_load(textwrap.dedent(GUIDE_YAML[name]))["dataset"]
    assert cfg.dataset.repo_id == written["repo_id"]
    ids = [written["repo_id"]] if isinstance(written["repo_id"], str) else written["repo_id"]
    sources = MixtureSpec.from_config(cfg.dataset).sources()
    assert [s.repo_id for s in sources] == ids and [s.index for s in sources] == list(range(len(ids)))
    selected = {s.repo_id: s.episodes for s in sources}
    if name == "filtering":
        assert selected == {"Mimic-Robotics/dataset1": (0, 1, 2, 3, 4), "Mimic-Robotics/dataset2": None}
    else:
        assert set(selected.values()) == {None}


def test_imagenet_yaml_and_cli_forms(tmp_path):
    text = textwrap.dedent(GUIDE_YAML["imagenet"]).replace("dataset:", "dataset:\n  repo_id: x/y", 1)
    base = write(tmp_path, "imagenet", text)
    assert MultiTrainPipelineConfig.from_yaml(base).dataset.use_imagenet_stats is True
    # CLI: draccus form and the guide's quoted-list form
    for arg in ("--dataset.repo_id=[a/b,c/d]", "--dataset.repo_id=['a/b','c/d']"):
        assert MultiTrainPipelineConfig.from_yaml(base, args=[arg]).dataset.repo_id == ["a/b", "c/d"]


def test_guide_python_api(tmp_path, data_root, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(
        f"dataset:\n  repo_id: lab/sess_a\n  root: {data_root}\n  video_backend: pyav\n" + POLICY
    )
    # --- the guide's Python API example (TrainPipelineConfig -> our subclass, local names) ---
    cfg = MultiTrainPipelineConfig.from_yaml(str(config))
    cfg.dataset.repo_id = ["lab/sess_a", "lab/sess_b"]
    dataset = make_dataset(cfg)
    print(f"Total episodes: {dataset.num_episodes}")
    print(f"Total frames: {dataset.num_frames}")
    print(f"Dataset mapping: {dataset.repo_id_to_index}")
    # --- Debugging section ---
    print(f"Disabled features: {dataset.disabled_features}")
    out = capsys.readouterr().out
    assert "Total episodes: 7" in out and "Total frames: 53" in out
    assert "Dataset mapping: {'lab/sess_a': 0, 'lab/sess_b': 1}" in out and "Disabled features: set()" in out
    # ACT's delta timestamps were resolved from the policy config against the first dataset
    assert dataset[0]["action"].shape == (cfg.policy.chunk_size, 6)
    # use_imagenet_stats defaults to true in lerobot: camera stats are ImageNet's
    assert torch.allclose(
        torch.as_tensor(dataset.meta.stats["observation.images.top"]["std"]).flatten(),
        torch.tensor([0.229, 0.224, 0.225]),
    )


def test_guide_data_structure_and_episode_indexing(data_root):
    cfg = MultiTrainPipelineConfig.from_yaml(
        _tmp_yaml(data_root), args=[f"--dataset.repo_id=[{','.join(SAME)}]"]
    )
    dataset = make_dataset(cfg)
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True)
    seen = set()
    for batch in dataloader:
        # batch["episode_index"] - global episode across all datasets
        # batch["dataset_index"] - which dataset this sample came from
        assert batch["episode_index"].max() < dataset.num_episodes
        assert batch["dataset_index"].max() < len(SAME)
        assert batch["observation.state"].shape[1:] == (6,)
        seen |= set(zip(batch["dataset_index"].tolist(), batch["episode_index"].tolist()))
    # "Dataset 1: Episodes 0-2 -> Global 0-2, Dataset 2: Episodes 0-3 -> Global 3-6, ..."
    assert seen == {(0, 0), (0, 1), (0, 2), (1, 3), (1, 4), (1, 5), (1, 6), (2, 7), (2, 8)}


def _tmp_yaml(data_root) -> str:
    path = data_root.parent / "guide_structure.yaml"
    path.write_text(f"dataset:\n  repo_id: lab/sess_a\n  root: {data_root}\n  video_backend: pyav\n" + POLICY)
    return str(path)
