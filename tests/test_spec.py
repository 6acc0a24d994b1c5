"""MixtureSpec: every option reaches both mixtures through the config, validated in one place."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lerobot_multi import DatasetSourceError, MultiTrainPipelineConfig, make_dataset
from lerobot_multi.meta.spec import MixtureSpec

POLICY = "policy:\n  type: act\n  device: cpu\n  push_to_hub: false\n  pretrained_backbone_weights: null\n"
TWO = ["lab/sess_a", "lab/sess_b"]


# option -> (repo ids, CLI arguments, what the built mixture shows, expected)
OPTIONS = {
    "root": (TWO, [], lambda ds: [s.root.name for s in ds.meta.sources], ["sess_a", "sess_b"]),
    "episodes": (TWO, ["--dataset.episodes={lab/sess_a: [0, 2]}"], lambda ds: ds.num_episodes, 6),
    "exclude_episodes": (
        TWO,
        ["--dataset.exclude_episodes={lab/sess_*: [0]}"],
        lambda ds: ds.num_episodes,
        5,
    ),
    "revision": (TWO, ["--dataset.revision=v3.0"], lambda ds: ds.meta.revision, "v3.0"),
    "repo_type": (TWO, ["--dataset.repo_type=dataset"], lambda ds: ds.spec.repo_type, "dataset"),
    "weights": (TWO, ["--dataset.weights=[1,3]"], lambda ds: ds.sampling_shares.tolist(), [0.25, 0.75]),
    "temperature": (
        TWO,
        ["--dataset.temperature=0"],
        lambda ds: ds.sampling_shares.tolist(),
        [0.5, 0.5],
    ),
    "epoch_size": (TWO, ["--dataset.epoch_size=11"], lambda ds: ds.spec.epoch_size, 11),
    "mixed_fps": (
        ["lab/sess_a", "lab/fps15"],
        ["--dataset.mixed_fps=true"],
        lambda ds: ds.meta.fps_by_dataset,
        [30, 15],
    ),
    "delta_overrides": (  # sess_b's chunk at half the rate: ACT's 100 offsets, 1/15 s apart
        TWO,
        [
            "--dataset.delta_timestamps={lab/sess_b: {action: ["
            + ", ".join(str(i / 15) for i in range(100))
            + "]}}"
        ],
        lambda ds: ds.delta_timestamps_by_dataset["lab/sess_b"]["action"][1],
        1 / 15,
    ),
    "rename_map": (
        ["lab/sess_a", "lab/other"],
        ["--dataset.rename_map={lab/other: {observation.joints: observation.state, joint_targets: action}}"],
        lambda ds: sorted(k for k in ds.features if k in ("observation.state", "action")),
        ["action", "observation.state"],
    ),
    "pad_vectors": (
        ["lab/sess_a", "lab/wide"],
        ["--dataset.pad_vectors=true"],
        lambda ds: "observation.state" in ds.meta.schema.padded,
        True,
    ),
    "fill_missing_cameras": (
        ["lab/sess_a", "lab/nocam"],
        ["--dataset.fill_missing_cameras=true"],
        lambda ds: ds.camera_keys,
        ["observation.images.top"],
    ),
    "normalization_mode": (
        TWO,
        ["--dataset.normalization_mode=per_dataset"],
        lambda ds: ds.spec.normalization_mode,
        "per_dataset",
    ),
    "condition_on": (
        TWO,
        ["--dataset.condition_on=dataset"],
        lambda ds: ds.meta.conditioning.mode,
        "dataset",
    ),
    "condition_feature": (
        TWO,
        ["--dataset.condition_on=dataset", "--dataset.condition_feature=observation.state"],
        lambda ds: ds.meta.conditioning.key,
        "observation.state",
    ),
    "reader": (TWO, ["--dataset.reader=lerobot"], lambda ds: ds.spec.reader, "lerobot"),
    "video_backend": (TWO, ["--dataset.video_backend=pyav"], lambda ds: ds.spec.video_backend, "pyav"),
    "open_processes": (TWO, ["--dataset.open_processes=0"], lambda ds: ds.spec.open_processes, 0),
    "stop_strategy": (TWO, ["--dataset.stop_strategy=stop"], lambda ds: ds.spec.stop_strategy, "stop"),
    "buffer_size": (TWO, ["--dataset.buffer_size=7"], lambda ds: ds.spec.buffer_size, 7),
    "on_error": (TWO, ["--dataset.on_error=skip"], lambda ds: ds.spec.on_error, "skip"),
    "max_skipped": (TWO, ["--dataset.max_skipped=0.5"], lambda ds: ds.spec.max_skipped, 0.5),
    "episode_checks": (
        TWO,
        ["--dataset.episode_checks=[non_finite,short]", "--dataset.min_episode_frames=2"],
        lambda ds: ds.spec.episode_checks,
        ("non_finite", "short"),
    ),
    "min_episode_frames": (TWO, ["--dataset.min_episode_frames=3"], lambda ds: ds.spec.min_episode_frames, 3),
    # {pack}: a pack of TWO the test writes first (test_pack.py has the rest)
    "metadata_pack": (
        TWO,
        ["--dataset.metadata_pack={pack}"],
        lambda ds: ds.spec.metadata_pack.endswith(".pack"),
        True,
    ),
    "depth_output_unit": (TWO, ["--dataset.depth_output_unit=m"], lambda ds: ds.depth_output_unit, "m"),
    "val_episodes": (
        TWO,
        ["--dataset.val_episodes={lab/sess_b: [1, 0]}"],
        lambda ds: [s.val_episodes for s in ds.meta.sources],
        [None, (0, 1)],
    ),
}
# options whose effect one mixture has and the other, by design, has not
ONLY = {"reader": "map", "stop_strategy": "stream", "buffer_size": "stream"}


def test_every_spec_field_is_in_the_table():
    # return_uint8 follows the lerobot line in training; episode_filter is a callable (Python only)
    fields = {f.name for f in dataclasses.fields(MixtureSpec)} - {
        "repo_ids",
        "return_uint8",
        "episode_filter",
    }
    assert fields == set(OPTIONS), "a MixtureSpec field without a row here is untested through the config"


# MultiDatasetConfig fields that configure the run, not the mixture (train/)
RUN_OPTIONS = {"val_freq", "val_batches", "allow_mixture_change"}


def test_config_and_spec_list_the_same_options():
    """The option list exists once: every MixtureSpec field is a config field (under its config name)
    and every field the config adds to lerobot's DatasetConfig is a spec field or a run option."""
    from lerobot.configs.default import DatasetConfig

    from lerobot_multi.config import MultiDatasetConfig
    from lerobot_multi.meta.spec import CONFIG_NAMES

    config = {f.name for f in dataclasses.fields(MultiDatasetConfig)}
    lerobot = {f.name for f in dataclasses.fields(DatasetConfig)}
    spec = {CONFIG_NAMES.get(f.name, f.name) for f in dataclasses.fields(MixtureSpec)}
    spec -= {"return_uint8", "episode_filter"}  # the line's training default; a callable (Python only)
    assert spec - config == set(), "spec fields the config cannot set"
    assert (config - lerobot) - spec - RUN_OPTIONS == set(), "config fields no spec field reads"


@pytest.mark.parametrize(
    ("option", "arg"),
    [
        ("episodes", "{lab/typo: [0]}"),
        ("exclude_episodes", "{lab/typo: [0]}"),
        ("weights", "{lab/sess_a: 1, lab/typo: 1}"),
        ("rename_map", "{lab/typo: {action: act}}"),
        ("delta_timestamps", "{lab/typo: {action: [0.0]}}"),
        ("root", "{lab/typo: /tmp}"),
        ("val_episodes", "{lab/typo: [0]}"),
    ],
)
def test_per_dataset_option_naming_an_unknown_dataset(tmp_path, data_root, option, arg):
    """Every {repo_id: x} option goes through one parser with one error naming the option; a
    misspelled repo_id in val_episodes no longer holds out nothing in silence."""
    with pytest.raises(DatasetSourceError, match=rf"dataset.{option} names \['lab/typo'\]"):
        _config(tmp_path, data_root, TWO, [f"--dataset.{option}={arg}"], False)


def _config(tmp_path, data_root, repo_ids, args, streaming):
    yaml = tmp_path / "cfg.yaml"
    yaml.write_text(f"dataset:\n  repo_id: [{', '.join(repo_ids)}]\n  root: {data_root}\n" + POLICY)
    extra = ["--dataset.streaming=true"] if streaming else []
    return MultiTrainPipelineConfig.from_yaml(str(yaml), args=[*args, *extra])


@pytest.mark.parametrize("streaming", [False, True], ids=["map", "stream"])
@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_option_reaches_the_mixture_through_the_config(tmp_path, data_root, option, streaming):
    repo_ids, args, shown, expected = OPTIONS[option]
    if any("{pack}" in a for a in args):
        from lerobot_multi.meta.pack import write_pack

        write_pack(MixtureSpec(repo_ids, root=data_root), tmp_path / "two.pack")
        args = [a.format(pack=tmp_path / "two.pack") for a in args]
    cfg = _config(tmp_path, data_root, repo_ids, args, streaming)
    dataset = make_dataset(cfg)
    kind = "stream" if streaming else "map"
    assert (
        type(dataset).__name__
        == {"stream": "StreamingMultiLeRobotDataset", "map": "MultiLeRobotDataset"}[kind]
    )
    assert dataset.spec == MixtureSpec.from_config(cfg.dataset, return_uint8=dataset.spec.return_uint8)
    if ONLY.get(option, kind) == kind:
        assert shown(dataset) == expected


def test_streaming_with_mixed_fps_from_a_config(tmp_path, data_root):
    """The bug this spec fixed: the stream never received mixed_fps from a config."""
    cfg = _config(tmp_path, data_root, ["lab/sess_a", "lab/fps15"], ["--dataset.mixed_fps=true"], True)
    stream = make_dataset(cfg)
    chunk = {rid: len(d["action"]) for rid, d in stream.delta_timestamps_by_dataset.items()}
    assert chunk == {"lab/sess_a": cfg.policy.chunk_size, "lab/fps15": cfg.policy.chunk_size}
    item = next(iter(stream))
    assert item["action"].shape == (cfg.policy.chunk_size, 6)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("normalization_mode", "per_arm", "normalization_mode"),
        ("condition_on", "episode", "condition_on"),
        ("reader", "slow", "reader"),
        ("stop_strategy", "first_exhausted", "stop_strategy"),
        ("epoch_size", 0, "epoch_size"),
        ("buffer_size", 0, "buffer_size"),
        ("repo_type", "model", "repo_type"),
        ("repo_type", "bucket", r"dataset.repo_type = 'bucket': a mixture reads dataset repos"),
    ],
)
def test_bad_option_is_refused_once_for_config_and_spec(tmp_path, data_root, field, value, message):
    with pytest.raises(DatasetSourceError, match=message):
        MixtureSpec(repo_ids=TWO, **{field: value})
    with pytest.raises(DatasetSourceError, match=message):
        _config(tmp_path, data_root, TWO, [f"--dataset.{field}={value}"], False)


@pytest.mark.parametrize("kind", ["map", "stream"])
def test_constructor_applies_per_dataset_delta_overrides(data_root, kind):
    """`delta_overrides` given to a mixture's constructor window the datasets it names (the factory
    applied them, the constructors did not); a window of another length is refused, not ignored."""
    from lerobot_multi import MultiLeRobotDataset, StreamingMultiLeRobotDataset

    cls = {"map": MultiLeRobotDataset, "stream": StreamingMultiLeRobotDataset}[kind]
    chunk, half_rate = [0.0, 1 / 30, 2 / 30], [0.0, 2 / 30, 4 / 30]
    with pytest.raises(DatasetSourceError, match=r"has 3 offsets for lab/sess_a but 1 for lab/sess_b"):
        cls(
            TWO,
            root=data_root,
            delta_timestamps={"action": [0.0]},
            delta_overrides={"lab/sess_a": {"action": chunk}},
        )
    ds = cls(
        TWO,
        root=data_root,
        delta_timestamps={"action": chunk},
        delta_overrides={"lab/sess_a": {"action": half_rate}},
    )
    assert ds.delta_timestamps_by_dataset == {
        "lab/sess_a": {"action": half_rate},
        "lab/sess_b": {"action": chunk},
    }
    if kind == "map":  # sess_a's chunk spans 5 frames (half rate): its 3rd action is frame 4's
        first = ds[0]["action"]
        assert first.shape == (3, 6) and ds[len(ds) - 1]["action"].shape == (3, 6)
        assert torch.equal(first[2], ds[4]["action"][0]) and not torch.equal(first[2], ds[2]["action"][0])
    else:
        item = next(iter(ds))
        windows = ds.delta_timestamps_by_dataset[ds.repo_ids[int(item["dataset_index"])]]["action"]
        assert item["action"].shape == (len(windows), 6)


def test_a_single_repo_id_bucket_is_refused_as_a_mixture(data_root):
    """A string repo_id with repo_type bucket parses (lerobot streams it itself); opened as a mixture it
    is refused, never read as the dataset repo of that name."""
    from lerobot_multi import MultiLeRobotDataset, StreamingMultiLeRobotDataset
    from lerobot_multi.config import MultiDatasetConfig

    assert MultiDatasetConfig(repo_id="lab/sess_a", repo_type="bucket", streaming=True).repo_type == "bucket"
    for cls in (MultiLeRobotDataset, StreamingMultiLeRobotDataset):
        with pytest.raises(DatasetSourceError, match="dataset.repo_type = 'bucket'"):
            cls("lab/sess_a", root=data_root / "lab/sess_a", repo_type="bucket")
