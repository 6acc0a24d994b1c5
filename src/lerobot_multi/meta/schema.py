"""Reconciling features across datasets: common keys, disabled keys, shape/dtype conflicts, fps.

Pure functions over each dataset's `info["features"]`; no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lerobot_multi import compat
from lerobot_multi.compat import LANGUAGE_DTYPE
from lerobot_multi.meta import sources
from lerobot_multi.meta.rules import renames_in_use
from lerobot_multi.meta.sources import DatasetSourceError

logger = logging.getLogger(__name__)

CAMERA_DTYPES = ("video", "image")


BOOKKEEPING = ("timestamp", "frame_index", "episode_index", "index", "task_index")


@dataclass(frozen=True)
class FeatureSchema:
    """The mixture's features (first dataset's order) and what was left out, padded or filled.

    `padded[key][repo_id]` is a vector feature's true size in that dataset (features hold the largest);
    `filled[key]` lists the datasets that lack a kept camera (their samples get zeros and a mask).
    """

    features: dict[str, dict]
    disabled_by_dataset: dict[str, list[str]] = field(default_factory=dict)
    padded: dict[str, dict[str, int]] = field(default_factory=dict)
    filled: dict[str, list[str]] = field(default_factory=dict)

    @property
    def disabled_features(self) -> set[str]:
        return {k for keys in self.disabled_by_dataset.values() for k in keys}


def mixture_renames(spec, sources: Sequence, metas: Sequence) -> dict:
    """{repo_id: {old: new}} of the spec's `rename_map` over the datasets' own features (rules.py)."""
    try:
        return renames_in_use(spec.rename_map, {s.repo_id: list(m.features) for s, m in zip(sources, metas)})
    except ValueError as e:
        raise DatasetSourceError(str(e)) from None


def apply_renames(
    features_by_repo: Mapping[str, Mapping[str, dict]], renames: Mapping[str, Mapping[str, str]] | None
) -> dict[str, dict[str, dict]]:
    """Rename keys per dataset ({repo_id: {old: new}}, every repo_id a dataset of the mixture: see
    `sources.per_dataset`), before the common-feature filter."""
    renames = renames or {}
    out = {}
    for rid, feats in features_by_repo.items():
        mapping = dict(renames.get(rid) or {})
        for old, new in mapping.items():
            if old not in feats:
                raise DatasetSourceError(
                    f"dataset.rename_map[{rid!r}]: {rid} has no feature {old!r} (it has {list(feats)})"
                )
            if old in BOOKKEEPING or new in BOOKKEEPING:
                raise DatasetSourceError(
                    f"dataset.rename_map[{rid!r}]: {old!r} -> {new!r} touches lerobot's index columns"
                )
            if new in feats and new not in mapping:
                raise DatasetSourceError(
                    f"dataset.rename_map[{rid!r}]: {old!r} -> {new!r} collides with {rid}'s own {new!r}"
                )
        targets = list(mapping.values())
        dupes = sorted({t for t in targets if targets.count(t) > 1})
        if dupes:
            raise DatasetSourceError(f"dataset.rename_map[{rid!r}]: several keys renamed to {dupes}")
        out[rid] = {mapping.get(k, k): dict(ft) for k, ft in feats.items()}
    return out


def is_depth(ft: dict) -> bool:
    """lerobot 0.6's depth-map marker on a feature (`info.is_depth_map`, or the legacy video keys)."""
    info, video = ft.get("info") or {}, ft.get("video_info") or {}
    return bool(info.get("is_depth_map") or info.get("video.is_depth_map") or video.get("video.is_depth_map"))


def depth_unit(ft: dict) -> str | None:
    """The unit a depth feature was recorded in (`info.depth_unit`: "m" or "mm"), if recorded."""
    return (ft.get("info") or {}).get("depth_unit")


def _same_kind(a: dict, b: dict) -> bool:
    if a["dtype"] in CAMERA_DTYPES and b["dtype"] in CAMERA_DTYPES:
        # a camera stored as video in one dataset and images in another decodes the same; a depth map
        # and a colour camera do not
        return is_depth(a) == is_depth(b)
    return a["dtype"] == b["dtype"]


def _paddable(specs: Sequence[dict]) -> bool:
    return (
        all(s["dtype"] in ("float32", "float64") and len(s["shape"]) == 1 for s in specs)
        and len({s["dtype"] for s in specs}) == 1
    )


def _kind(ft: dict) -> str:
    return f"{ft['dtype']} (depth map)" if is_depth(ft) else ft["dtype"]


def reconcile_features(
    features_by_repo: Mapping[str, Mapping[str, dict]],
    pad_vectors: bool = False,
    fill_missing_cameras: bool = False,
) -> FeatureSchema:
    """Keep the keys present in every dataset; refuse a shared key whose shape or dtype differs.

    `pad_vectors`: a 1-D float feature of different sizes is kept at the largest size.
    `fill_missing_cameras`: a camera some datasets lack is kept; those datasets' samples get zeros.
    """
    repo_ids = list(features_by_repo)
    per_repo = list(features_by_repo.values())
    all_keys = list(dict.fromkeys(k for f in per_repo for k in f))
    cameras = {k for k in all_keys if any(f.get(k, {}).get("dtype") in CAMERA_DTYPES for f in per_repo)}
    common = [k for k in all_keys if all(k in f for f in per_repo) or (fill_missing_cameras and k in cameras)]
    if not [k for k in common if k not in BOOKKEEPING]:
        listing = "; ".join(
            f"{rid}: {sorted(k for k in f if k not in BOOKKEEPING)}" for rid, f in features_by_repo.items()
        )
        raise DatasetSourceError(f"No keys common to all datasets. Keys per dataset: {listing}")

    conflicts, padded, filled, merged = [], {}, {}, {}
    for key in common:
        specs = [(rid, f[key]) for rid, f in features_by_repo.items() if key in f]
        ref_rid, ref = specs[0]
        shapes = {tuple(spec["shape"]) for _, spec in specs}
        if len(shapes) > 1 and pad_vectors and _paddable([spec for _, spec in specs]):
            sizes = {rid: spec["shape"][0] for rid, spec in specs}
            largest = max(specs, key=lambda x: x[1]["shape"][0])[1]
            merged[key] = dict(largest)
            padded[key] = sizes
            continue
        for rid, spec in specs[1:]:
            if not _same_kind(ref, spec) or tuple(ref["shape"]) != tuple(spec["shape"]):
                conflicts.append(
                    f"{key!r}: {ref_rid} has dtype={_kind(ref)} shape={tuple(ref['shape'])}, "
                    f"{rid} has dtype={_kind(spec)} shape={tuple(spec['shape'])}"
                )
        merged[key] = dict(ref)
        if len(specs) < len(repo_ids):
            filled[key] = [rid for rid in repo_ids if key not in features_by_repo[rid]]
    if conflicts:
        hint = "rename them, drop a dataset, or set dataset.pad_vectors=true for vector features"
        raise DatasetSourceError(
            f"Features with the same key differ across datasets ({hint}): " + "; ".join(conflicts)
        )

    disabled = {}
    for rid in repo_ids:
        extra = [k for k in features_by_repo[rid] if k not in merged]
        if extra:
            disabled[rid] = extra
    _warn_surprises(disabled, filled, padded, merged)
    return FeatureSchema(merged, disabled, padded, filled)


def _warn_surprises(disabled: dict, filled: dict, padded: dict, merged: dict) -> None:
    """What is legal but surprising about a schema: disabled features, filled cameras, padded vectors."""
    for rid, extra in disabled.items():
        logger.warning(
            "Dataset %r has features %s that not every dataset has; they are disabled for this mixture",
            rid,
            extra,
        )
    for key, rids in filled.items():
        logger.warning(
            "Camera %r is missing from %s; their samples get zeros and %s_pad_mask=True", key, rids, key
        )
    for key, sizes in padded.items():
        logger.warning(
            "Feature %r padded to %d (sizes per dataset: %s) with %s_pad_mask",
            key,
            merged[key]["shape"][0],
            sizes,
            key,
        )


def check_fps(fps_by_repo: Mapping[str, float], mixed_fps: bool = False) -> float:
    """One frame rate for all, unless `mixed_fps` (then each dataset resolves delta indices itself)."""
    values = set(fps_by_repo.values())
    listing = ", ".join(f"{rid}: {fps}" for rid, fps in fps_by_repo.items())
    if len(values) > 1 and not mixed_fps:
        raise DatasetSourceError(
            f"Datasets have different fps ({listing}); every dataset of a mixture must share one frame "
            "rate, or set dataset.mixed_fps=true so each dataset resolves the policy's delta indices "
            "(e.g. ACT's action chunk) with its own fps"
        )
    if len(values) > 1:
        logger.warning(
            "Mixed frame rates (%s): temporal offsets are counted in each dataset's own frames", listing
        )
    return next(iter(fps_by_repo.values()))


def check_robot_types(
    robot_type_by_repo: Mapping[str, str | None], normalization_mode: str = "global"
) -> str | None:
    """Different robots are legal but matter for normalization: warn when they share one (the global
    mode), and report the first one."""
    types = list(robot_type_by_repo.values())
    if len(set(types)) > 1 and normalization_mode == "global":
        logger.warning(
            "Datasets come from different robot types (%s); their actions and states share one normalization",
            ", ".join(f"{rid}: {rt}" for rid, rt in robot_type_by_repo.items()),
        )
    return types[0]


def check_same_lengths(per_dataset: Mapping[str, Mapping[str, Sequence[float]] | None]) -> None:
    """Samples of all datasets are collated together: each key needs as many offsets everywhere."""
    ref_rid, ref = next(iter(per_dataset.items()))
    for rid, dt in per_dataset.items():
        for key in set(ref or {}) | set(dt or {}):
            a, b = len((ref or {}).get(key, [])), len((dt or {}).get(key, []))
            if a != b:
                raise DatasetSourceError(
                    f"delta_timestamps[{key!r}] has {a} offsets for {ref_rid} but {b} for {rid}; "
                    "batches need the same number in every dataset"
                )


def select_delta_timestamps(
    delta_timestamps: Mapping[str, Sequence[float]] | None, features: Mapping[str, dict], repo_id: str
) -> dict[str, list[float]] | None:
    """Check user-given delta_timestamps against the common features."""
    if delta_timestamps is None:
        return None
    if not isinstance(delta_timestamps, Mapping):
        raise DatasetSourceError(
            f"delta_timestamps must map feature keys to lists of seconds, got {delta_timestamps!r}"
        )
    for key, offsets in delta_timestamps.items():
        if isinstance(offsets, (str, bytes)) or not hasattr(offsets, "__iter__"):
            raise DatasetSourceError(
                f"delta_timestamps[{key!r}] = {offsets!r}: expected a list of offsets in seconds "
                f"(for one offset: [{offsets!r}])"
            )
    unknown = [k for k in delta_timestamps if k not in features]
    if unknown:
        raise DatasetSourceError(
            f"delta_timestamps names {unknown}, which are not features common to all datasets "
            f"(first dataset {repo_id!r}); common features: {list(features)}"
        )
    rows = [k for k in delta_timestamps if features[k]["dtype"] == LANGUAGE_DTYPE]
    if rows:
        raise DatasetSourceError(
            f"delta_timestamps names {rows}: language columns hold message rows per frame, which "
            "lerobot does not window; leave them out of delta_timestamps"
        )
    return {k: list(v) for k, v in delta_timestamps.items()}


Windows = dict[str, list[float]] | None


def resolve_windows(
    meta,
    delta_timestamps: Mapping[str, Sequence[float]] | None,
    per_dataset: Mapping[str, Mapping[str, Sequence[float]]] | None,
    tolerance_s: float,
) -> tuple[Windows, dict[str, Windows], list[dict[str, list[int]] | None]]:
    """A mixture's temporal context, checked once for the map-style mixture and the stream alike:
    (the windows in seconds as lerobot shows them, each dataset's windows in seconds, each dataset's
    in its own frames), keyed by the mixture's names. `per_dataset` ({repo_id: {key: seconds}})
    overrides `delta_timestamps` for the datasets it names; every dataset's windows must fit its fps."""
    repo_ids = meta.repo_ids
    overrides = sources.per_dataset("delta_timestamps", per_dataset, repo_ids)
    resolved = {
        rid: select_delta_timestamps(overrides.get(rid, delta_timestamps), meta.features, rid)
        for rid in repo_ids
    }
    check_same_lengths(resolved)
    indices = []
    for rid, fps in zip(repo_ids, meta.fps_by_dataset):
        own = resolved[rid]
        if own is not None:
            try:
                compat.check_delta_timestamps(own, fps, tolerance_s)
            except ValueError as e:
                raise DatasetSourceError(f"dataset {rid!r} ({fps} fps): delta_timestamps: {e}") from e
        indices.append(None if own is None else compat.get_delta_indices(own, fps))
    shown = select_delta_timestamps(delta_timestamps, meta.features, repo_ids[0])
    return shown, resolved, indices
