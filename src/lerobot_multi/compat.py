"""Every lerobot name whose home differs between the supported lines, imported in one place.

lerobot 0.4.4 (Python 3.10/3.11), lerobot 0.6.1 and lerobot main (0.6.2 unreleased, Python >= 3.12)
moved a handful of helpers between modules (docs/lerobot-lines.md has the table). The rest of the
package imports these names from here, and every other lerobot name straight from lerobot, where every
line spells it the same.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import version

import torch
from packaging.version import InvalidVersion, Version

LEROBOT_VERSION = Version(version("lerobot"))


class UntestedLerobotWarning(UserWarning):
    """The installed lerobot is not a version any CI line tests (installed by hand or with --no-deps)."""


@dataclass(frozen=True)
class LerobotLine:
    """What the package relies on that differs between lerobot lines, as data (docs/lerobot-lines.md).

    Code outside compat and the training seam reads these fields instead of comparing versions or
    probing lerobot's objects for fields (tests/test_architecture.py checks it).
    """

    name: str
    """The line, as `LINES` keys it ("0.4", "0.6", "main"); it picks the training seam and nothing else."""
    tested: tuple[str, ...]
    """The lerobot versions a CI line runs the suite on (pyproject admits the released ones)."""
    training_frames_uint8: bool
    """lerobot's own `make_dataset` hands training uint8 camera frames (0.6: `return_uint8=True`;
    `lerobot_train` converts them to float in the main process), 0.4.4 float frames."""
    decoder_returns_uint8: bool
    """`decode_video_frames` takes `return_uint8` (0.6); 0.4.4's float frames are raw / 255."""
    integer_stats_are_ints: bool
    """The metadata gives integer features integer min/max stats (0.4.4); 0.6 keeps float64."""
    subtask_strings: bool
    """`LeRobotDataset` adds a `subtask` string beside `subtask_index` (0.4.4); 0.6 reads no subtasks."""
    language_columns: bool
    """Language columns (`language_persistent`, `language_events`) and `lerobot_collate_fn` (0.6)."""
    eval_split: bool
    """`DatasetConfig.eval_split`, `TrainPipelineConfig.eval_steps`, `make_train_eval_datasets` (0.6)."""
    dataset_reader: bool
    """`LeRobotDataset` keeps its windows and metadata on a `DatasetReader` (`dataset.reader`, 0.6)."""
    train_config_fields: frozenset[str]
    """`TrainPipelineConfig` fields this line has that another supported line lacks."""
    hub_http: str
    """The HTTP client of the huggingface_hub the line pins: "requests" (0.35, lerobot 0.4.4) or "httpx"
    (1.x); how a hook sees every answer of its session."""
    hub_cache: str
    """Where a hub dataset lives without a root: "folder" (`HF_LEROBOT_HOME/<repo_id>`, 0.4.4) or
    "snapshot" (huggingface_hub's cache under `HF_LEROBOT_HOME/hub`, 0.6)."""
    info_dataclass: bool
    """`meta.info` is a `DatasetInfo` dataclass (0.6); a dict on 0.4.4."""
    depth_maps: bool
    """Depth cameras (features marked `is_depth_map`): dequantized video or raw images, returned in
    `depth_output_unit` (0.6); 0.4.4 has none."""
    episode_filter: bool
    """`LeRobotDataset(episode_filter=...)`, a predicate over meta/episodes rows (0.6)."""
    video_encoder_config: bool
    """`LeRobotDataset.create` takes the codec as an encoder config (`rgb_encoder`, 0.6), not `vcodec`."""
    stream_shard_error: bool
    """`StreamingLeRobotDataset` ends a shard on its private `_ShardExhaustedError` (0.6), not on the
    `StopIteration` a generator makes (0.4.4)."""
    dataset_config_fields: frozenset[str]
    """`DatasetConfig` fields this line has that another supported line lacks (0.6: `repo_type`; main:
    `exclude_episodes` too)."""
    delta_timestamps_rename_map: bool
    """`resolve_delta_timestamps` maps dataset keys through the run's `rename_map` to the policy's keys
    before windowing them (main)."""
    moved: Mapping[str, tuple[str, str]] = field(compare=False, hash=False, default_factory=dict)
    """lerobot names whose module differs: name -> (module, attribute), imported on first use."""


# name -> (module, attribute) on each line, imported on first use: most live under lerobot.datasets,
# whose package import costs seconds, which a spawned DataLoader worker should not pay
_MOVED_06 = {
    "check_delta_timestamps": ("lerobot.datasets.feature_utils", "check_delta_timestamps"),
    "get_delta_indices": ("lerobot.datasets.feature_utils", "get_delta_indices"),
    "get_hf_features_from_features": ("lerobot.datasets.feature_utils", "get_hf_features_from_features"),
    "cast_stats_to_numpy": ("lerobot.datasets.io_utils", "cast_stats_to_numpy"),
    "hf_transform_to_torch": ("lerobot.datasets.io_utils", "hf_transform_to_torch"),
    "LegacyMultiLeRobotDataset": ("lerobot.datasets.multi_dataset", "MultiLeRobotDataset"),
    "Backtrackable": ("lerobot.datasets.streaming_dataset", "Backtrackable"),
    "DatasetInfo": ("lerobot.datasets.utils", "DatasetInfo"),
    "DepthEncoderConfig": ("lerobot.configs.video", "DepthEncoderConfig"),
    "RGBEncoderConfig": ("lerobot.configs.video", "RGBEncoderConfig"),
    "dequantize_depth": ("lerobot.datasets.depth_utils", "dequantize_depth"),
    # private in lerobot, but it is what 0.6's stream catches to end a shard: ours must raise it
    "ShardExhausted": ("lerobot.datasets.streaming_dataset", "_ShardExhaustedError"),
    "TransitionKey": ("lerobot.lerobot_types", "TransitionKey"),
    "ImageTransforms": ("lerobot.transforms", "ImageTransforms"),
    "IMAGENET_STATS": ("lerobot.utils.constants", "IMAGENET_STATS"),
    "dataset_to_policy_features": ("lerobot.utils.feature_utils", "dataset_to_policy_features"),
    # 0.6's train_utils imports every policy, which a DataLoader worker never needs
    "lerobot_training_step": ("lerobot.common.train_utils", "load_training_step"),
}
_MOVED_044 = {
    "IMAGENET_STATS": ("lerobot.datasets.factory", "IMAGENET_STATS"),
    "LegacyMultiLeRobotDataset": ("lerobot.datasets.lerobot_dataset", "MultiLeRobotDataset"),
    "ImageTransforms": ("lerobot.datasets.transforms", "ImageTransforms"),
    **{
        name: ("lerobot.datasets.utils", name)
        for name in (
            "Backtrackable",
            "cast_stats_to_numpy",
            "check_delta_timestamps",
            "dataset_to_policy_features",
            "get_delta_indices",
            "get_hf_features_from_features",
            "hf_transform_to_torch",
        )
    },
    "TransitionKey": ("lerobot.processor.core", "TransitionKey"),
    "ShardExhausted": ("builtins", "StopIteration"),  # 0.4.4's stream catches what a generator makes of it
    "lerobot_training_step": ("lerobot.utils.train_utils", "load_training_step"),
}

_LINE_06 = LerobotLine(
    name="0.6",
    tested=("0.6.1",),
    training_frames_uint8=True,
    decoder_returns_uint8=True,
    integer_stats_are_ints=False,
    subtask_strings=False,
    language_columns=True,
    eval_split=True,
    dataset_reader=True,
    train_config_fields=frozenset({"sample_weighting", "trainable_config", "eval_steps"}),
    hub_http="httpx",
    hub_cache="snapshot",
    info_dataclass=True,
    depth_maps=True,
    episode_filter=True,
    video_encoder_config=True,
    stream_shard_error=True,
    dataset_config_fields=frozenset({"repo_type"}),
    delta_timestamps_rename_map=False,
    moved=_MOVED_06,
)
LINES = {
    "0.4": LerobotLine(
        name="0.4",
        tested=("0.4.4",),
        training_frames_uint8=False,
        decoder_returns_uint8=False,
        integer_stats_are_ints=True,
        subtask_strings=True,
        language_columns=False,
        eval_split=False,
        dataset_reader=False,
        train_config_fields=frozenset({"use_rabc", "rabc_progress_path"}),
        hub_http="requests",
        hub_cache="folder",
        info_dataclass=False,
        depth_maps=False,
        episode_filter=False,
        video_encoder_config=False,
        stream_shard_error=False,
        dataset_config_fields=frozenset(),
        delta_timestamps_rename_map=False,
        moved=_MOVED_044,
    ),
    "0.6": _LINE_06,
    # lerobot main at 7427f31 (pyproject 0.6.2, unreleased): 0.6.1's datasets; its training script
    # builds the accelerator from the config (`--accelerator.*`, `--parallelism.*`, `--ema.*`)
    "main": dataclasses.replace(
        _LINE_06,
        name="main",
        tested=("0.6.2",),
        train_config_fields=_LINE_06.train_config_fields
        | {"accelerator", "parallelism", "ema", "checkpoint_format"},
        dataset_config_fields=frozenset({"repo_type", "exclude_episodes"}),
        delta_timestamps_rename_map=True,
        # training_state/ records the step with the batch size and topology, read in one pass
        moved={
            **{k: v for k, v in _MOVED_06.items() if k != "lerobot_training_step"},
            "load_training_metadata": ("lerobot.common.train_utils", "load_training_metadata"),
        },
    ),
}

SUPPORTED = (
    "lerobot 0.4.4 (Python 3.10/3.11), lerobot 0.6.1 (Python >= 3.12), and lerobot main at 7427f31 "
    "(0.6.2, from source: `make install-main`)"
)


def line_for(installed: Version) -> LerobotLine:
    """The line a lerobot version belongs to: a tested version's own line; an untested one the nearest
    line below it (0.5 reshaped datasets and training), with an `UntestedLerobotWarning` saying what is
    supported and what to do."""
    for line in LINES.values():
        if str(installed) in line.tested:
            return line
    nearest = LINES["main"] if installed >= Version("0.6.2") else LINES["0.6"]
    if installed < Version("0.5"):
        nearest = LINES["0.4"]
    warnings.warn(
        f"lerobot-multi was not tested with the installed lerobot {installed}; it supports {SUPPORTED}. "
        f"It runs as on its '{nearest.name}' line, which may fail or read samples differently. "
        "Install a tested one: `pip install lerobot-multi` resolves it (lerobot==0.6.1 on Python >= 3.12, "
        "lerobot==0.4.4 below).",
        UntestedLerobotWarning,
        stacklevel=2,
    )
    return nearest


LINE = line_for(LEROBOT_VERSION)
"""The installed lerobot's line."""
CODEBASE_VERSION = "v3.0"
"""The dataset format both lines write and read by default (lerobot's `CODEBASE_VERSION`): the hub
revision rule picks tags against it (tests/test_lerobot_private.py checks it)."""
LANGUAGE_DTYPE = "language"


def tag_version(name: str) -> Version | None:
    """A hub tag or revision read as a dataset codebase version ("v3.0"), or None when it is not one."""
    try:
        return Version(name)
    except InvalidVersion:
        return None


"""0.6's language columns (`language_persistent`, `language_events`): per frame, a list of message
rows, passed through by `LeRobotDataset` and left out of the batch by `lerobot_collate_fn`."""

_MOVED = LINE.moved


def __getattr__(name: str):
    if name in _MOVED:
        module, attribute = _MOVED[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lerobot_multi.compat' has no attribute {name!r}")


# the public names, and those imported on first use (__getattr__)
__all__ = ["CODEBASE_VERSION", "LANGUAGE_DTYPE", "LEROBOT_VERSION", "LINE", "LINES", "LerobotLine", "SUPPORTED", "UntestedLerobotWarning", "collate_for", "dataset_info", "dataset_option", "default_tools", "eval_split", "eval_steps", "lerobot_dataset_options", "lerobot_delta_indices", "line_for", "load_training_step", "policy_delta_timestamps", "set_lerobot_deltas", "tag_version", "train_option", "trainable_config", "video_codec_options", "watch_hub_answers", "with_features", *_MOVED]  # fmt: skip


def load_training_step(training_state_dir) -> int:
    """The step of a checkpoint's training_state/, as the installed lerobot reads it (lerobot main:
    `load_training_metadata(...)["step"]`; before: `load_training_step`)."""
    if "load_training_metadata" in _MOVED:
        return int(__getattr__("load_training_metadata")(training_state_dir)["step"])
    return int(__getattr__("lerobot_training_step")(training_state_dir))


def trainable_config(cfg):
    """The config whose delta indices shape the samples: 0.6's `cfg.trainable_config` (a policy or a
    reward model), 0.4.4's `cfg.policy`."""
    chosen = cfg.trainable_config if "trainable_config" in LINE.train_config_fields else None
    return chosen or cfg.policy


def policy_delta_timestamps(policy_cfg, meta, rename_map: dict[str, str] | None = None) -> dict | None:
    """lerobot's `resolve_delta_timestamps` of a policy over a dataset's metadata; on lerobot main the
    run's `rename_map` (dataset key -> policy key) decides which keys get which window."""
    from lerobot.datasets.factory import resolve_delta_timestamps

    if LINE.delta_timestamps_rename_map:
        return resolve_delta_timestamps(policy_cfg, meta, rename_map)
    return resolve_delta_timestamps(policy_cfg, meta)


def watch_hub_answers(hook) -> None:
    """Call `hook(response)` on every answer of huggingface_hub's session in this thread (0.35: a
    requests session per thread; 1.x: one httpx client), once per session."""
    from huggingface_hub.utils import get_session

    session = get_session()
    hooks = session.hooks["response"] if LINE.hub_http == "requests" else session.event_hooks["response"]
    if hook not in hooks:
        hooks.append(hook)


def train_option(cfg, name: str, default=None):
    """A `TrainPipelineConfig` field that only some lines have (`LerobotLine.train_config_fields`):
    its value, or `default` on a line without it."""
    return getattr(cfg, name) if name in LINE.train_config_fields else default


def dataset_option(ds_cfg, name: str, default=None):
    """A dataset config field that lerobot's `DatasetConfig` has only on some lines
    (`LerobotLine.dataset_config_fields`) and `MultiDatasetConfig` has on every line: its value, or
    `default` for a lerobot config without it."""
    return getattr(ds_cfg, name, default)


def eval_split(ds_cfg) -> float:
    """lerobot 0.6's `dataset.eval_split` (held-out fraction per task); 0 on a line without it."""
    return (ds_cfg.eval_split or 0.0) if LINE.eval_split else 0.0


def eval_steps(cfg) -> int:
    """lerobot 0.6's `eval_steps` (held-out loss period) when `dataset.eval_split` is set, else 0."""
    return cfg.eval_steps if eval_split(cfg.dataset) else 0


def lerobot_delta_indices(dataset) -> dict | None:
    """An open `LeRobotDataset`'s window offsets in frames."""
    return (dataset.reader if LINE.dataset_reader else dataset).delta_indices


def set_lerobot_deltas(dataset, delta_timestamps, delta_indices) -> None:
    """Re-window an open `LeRobotDataset` (0.6 keeps the windows on its `DatasetReader`)."""
    dataset.delta_timestamps = delta_timestamps
    target = dataset.reader if LINE.dataset_reader else dataset
    target.delta_indices = delta_indices


def with_features(dataset, features: dict) -> None:
    """Give an open `LeRobotDataset` a copy of its metadata with `features` (in memory only): 0.6's
    `meta.info` is a `DatasetInfo` dataclass, and its reader holds the metadata too."""
    meta = copy.copy(dataset.meta)
    if LINE.dataset_reader:
        meta.info = dataclasses.replace(meta.info, features=features)
        dataset.reader._meta = meta  # the reader reads video keys from its own reference
    else:
        meta.info = {**meta.info, "features": features}
    dataset.meta = meta


def lerobot_dataset_options(return_uint8: bool, depth_output_unit: str = "mm") -> dict:
    """`LeRobotDataset` keyword arguments that exist only on one line."""
    if LINE.training_frames_uint8:
        return {"return_uint8": return_uint8, "depth_output_unit": depth_output_unit}
    if return_uint8:
        raise ValueError(
            f"return_uint8 for reader='lerobot' needs lerobot's 0.6 line (lerobot {LEROBOT_VERSION} has no such option)"
        )
    return {}


def dataset_info(info: dict):
    """`meta.info` as the installed lerobot gives it: 0.6's `DatasetInfo` (its known fields; the
    features dict is shared, not copied), 0.4.4's dict."""
    if not LINE.info_dataclass:
        return info
    info_class = __getattr__("DatasetInfo")
    known = {f.name for f in dataclasses.fields(info_class)}
    return info_class(**{k: v for k, v in info.items() if k in known})


def default_tools() -> list[dict]:
    """lerobot 0.6's default tool schemas (a dataset that declares none); none on a line without
    language columns."""
    if not LINE.language_columns:
        return []
    from lerobot.datasets.language import DEFAULT_TOOLS

    return [dict(t) for t in DEFAULT_TOOLS]


def collate_for(meta):
    """The collate lerobot's training uses for a dataset with this metadata: 0.6's
    `lerobot_collate_fn` (it leaves language rows out of the batch) when it has language columns,
    else torch's `default_collate`."""
    if LINE.language_columns and meta.has_language_columns:
        from lerobot.utils.collate import lerobot_collate_fn

        return lerobot_collate_fn
    return torch.utils.data.default_collate


def video_codec_options(vcodec: str) -> dict:
    """`LeRobotDataset.create` keyword arguments that pick the video codec (0.6: an encoder config)."""
    if LINE.video_encoder_config:
        return {"rgb_encoder": __getattr__("RGBEncoderConfig")(vcodec=vcodec)}
    return {"vcodec": vcodec}
