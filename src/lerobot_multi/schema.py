"""Reconciling features across datasets: common keys, disabled keys, shape/dtype conflicts, fps.

Pure functions over each dataset's `info["features"]`; no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lerobot_multi.sources import DatasetSourceError

logger = logging.getLogger(__name__)

CAMERA_DTYPES = ("video", "image")


@dataclass(frozen=True)
class FeatureSchema:
    """The features every dataset shares (first dataset's order) and what was left out, per dataset."""

    features: dict[str, dict]
    disabled_by_dataset: dict[str, list[str]] = field(default_factory=dict)

    @property
    def disabled_features(self) -> set[str]:
        return {k for keys in self.disabled_by_dataset.values() for k in keys}


def _same_kind(a: dict, b: dict) -> bool:
    if a["dtype"] in CAMERA_DTYPES and b["dtype"] in CAMERA_DTYPES:
        return True  # a camera stored as video in one dataset and images in another decodes the same
    return a["dtype"] == b["dtype"]


def reconcile_features(features_by_repo: Mapping[str, Mapping[str, dict]]) -> FeatureSchema:
    """Keep the keys present in every dataset; refuse a shared key whose shape or dtype differs."""
    repo_ids = list(features_by_repo)
    per_repo = list(features_by_repo.values())
    common = [k for k in per_repo[0] if all(k in f for f in per_repo[1:])]
    # lerobot's bookkeeping columns are in every v3 dataset; keys beyond them must be shared to train
    bookkeeping = {"timestamp", "frame_index", "episode_index", "index", "task_index"}
    if not [k for k in common if k not in bookkeeping]:
        listing = "; ".join(
            f"{rid}: {sorted(k for k in f if k not in bookkeeping)}" for rid, f in features_by_repo.items()
        )
        raise DatasetSourceError(f"No keys common to all datasets. Keys per dataset: {listing}")

    conflicts = []
    for key in common:
        specs = [(rid, f[key]) for rid, f in features_by_repo.items()]
        ref_rid, ref = specs[0]
        for rid, spec in specs[1:]:
            if not _same_kind(ref, spec) or tuple(ref["shape"]) != tuple(spec["shape"]):
                conflicts.append(
                    f"{key!r}: {ref_rid} has dtype={ref['dtype']} shape={tuple(ref['shape'])}, "
                    f"{rid} has dtype={spec['dtype']} shape={tuple(spec['shape'])}"
                )
    if conflicts:
        raise DatasetSourceError(
            "Features with the same key differ across datasets (rename them or drop a dataset): "
            + "; ".join(conflicts)
        )

    disabled = {}
    for rid in repo_ids:
        extra = [k for k in features_by_repo[rid] if k not in common]
        if extra:
            disabled[rid] = extra
            logger.warning(
                "Dataset %r has features %s that not every dataset has; they are disabled for this mixture",
                rid,
                extra,
            )
    return FeatureSchema({k: dict(per_repo[0][k]) for k in common}, disabled)


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


def check_robot_types(robot_type_by_repo: Mapping[str, str | None]) -> str | None:
    """Different robots are legal but matter for normalization: warn, and report the first one."""
    types = list(robot_type_by_repo.values())
    if len(set(types)) > 1:
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
    unknown = [k for k in delta_timestamps if k not in features]
    if unknown:
        raise DatasetSourceError(
            f"delta_timestamps names {unknown}, which are not features common to all datasets "
            f"(first dataset {repo_id!r}); common features: {list(features)}"
        )
    return {k: list(v) for k, v in delta_timestamps.items()}
