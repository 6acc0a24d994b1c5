"""The mixture report: what `lerobot-multi-info` prints, as plain data (dict) and as a table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from lerobot_multi.meta.metadata import MultiDatasetMetadata
from lerobot_multi.meta.mixing import sampling_shares
from lerobot_multi.meta.opening import open_mixture_metadata
from lerobot_multi.meta.rules import explain_renames
from lerobot_multi.meta.sources import EpisodesSpec, RootSpec
from lerobot_multi.meta.spec import MixtureSpec, make_spec


def open_metadata(
    repo_ids: str | Sequence[str], root: RootSpec = None, episodes: EpisodesSpec = None, **options
) -> MultiDatasetMetadata:
    """Merged metadata alone (no frame data is opened): enough to inspect a mixture.

    Keyword arguments are `MixtureSpec` fields (mixed_fps, rename_map, pad_vectors, weights, ...).
    """
    return open_mixture_metadata(make_spec(repo_ids, root, episodes, options))


def open_config_metadata(ds_cfg) -> MultiDatasetMetadata:
    """`open_metadata` with every option of a MultiDatasetConfig."""
    return open_mixture_metadata(MixtureSpec.from_config(ds_cfg))


def mixture_report(meta: MultiDatasetMetadata) -> dict:
    """What `lerobot-multi-info` shows of a mixture's metadata (its spec gives shares and groups)."""
    spec = meta.spec
    total = max(meta.total_frames, 1)
    shares = sampling_shares(meta)
    weights = None if spec.weights is None else [s.weight for s in meta.sources]
    rows = []
    for i, (source, sub) in enumerate(zip(meta.sources, meta.sub_metas)):
        rows.append(
            {
                "dataset_index": i,
                "repo_id": source.repo_id,
                "root": str(source.root),
                "robot_type": sub.robot_type,
                "fps": sub.fps,
                "format": sub.codebase_version,
                "episodes_selected": meta.num_episodes_of(i),
                "episodes_total": sub.total_episodes,
                "frames": meta.num_frames_of(i),
                "frame_share": meta.num_frames_of(i) / total,
                "share": float(shares[i]),
            }
        )
    return {
        "datasets": rows,
        "total_episodes": meta.total_episodes,
        "total_frames": meta.total_frames,
        "fps": meta.fps,
        "tasks": list(meta.tasks.index),
        "features": {
            k: {"dtype": ft["dtype"], "shape": list(ft["shape"])} for k, ft in meta.features.items()
        },
        "disabled_features": meta.schema.disabled_by_dataset,
        "normalization": {
            "mode": spec.normalization_mode,
            "groups": {s.repo_id: s.normalization_group for s in meta.sources},
        },
        "conditioning": _conditioning(meta),
        "renames": _renames(meta),
        "skipped": [{"repo_id": s.repo_id, "reason": s.reason} for s in meta.skipped],
        "skipped_episodes": [
            {"repo_id": s.repo_id, "episode": s.episode, "reason": s.reason} for s in meta.skipped_episodes
        ],
        "padded": meta.schema.padded,
        "filled_cameras": meta.schema.filled,
        "mixing": {
            "weights": weights,
            "temperature": spec.temperature,
            "rule": "weights"
            if weights is not None
            else f"frames^{1.0 if spec.temperature is None else spec.temperature}",
        },
    }


def _renames(meta) -> dict[str, dict[str, dict[str, str]]]:
    """{repo_id: {own key: {"to": mixture key, "rule": the rename_map entry that did it}}}."""
    out = {}
    for i, rid in enumerate(meta.repo_ids):
        rules = explain_renames(meta.spec.rename_map, rid, list(meta.sub_metas[i].features))
        resolved = meta.rename_map[rid]
        if resolved:
            out[rid] = {
                old: {"to": new, "rule": rules.get(old, (new, "?"))[1]} for old, new in resolved.items()
            }
    return out


def _conditioning(meta) -> dict | None:
    cond = meta.conditioning
    if cond is None:
        return None
    total = max(int(cond.frames.sum()), 1)
    return {
        "on": cond.mode,
        "feature": cond.key,
        "dims": f"{cond.base_width}..{cond.base_width + len(cond.groups) - 1}",
        "groups": [
            {"group": g, "frames": int(n), "frame_share": int(n) / total}
            for g, n in zip(cond.groups, cond.frames)
        ],
    }


def format_report(report: dict) -> str:
    rows = report["datasets"]
    # columns as wide as their longest entry: long repo ids and robot types keep the table aligned
    rid_w = max([len("repo_id"), *(len(r["repo_id"]) for r in rows)])
    robot_w = max([len("robot"), *(len(str(r["robot_type"])) for r in rows)])
    header = (
        f"{'idx':>3}  {'repo_id':<{rid_w}} {'robot':<{robot_w}} {'format':>6} {'fps':>5} {'episodes':>11} {'frames':>8} "
        f"{'frames%':>8} {'samples%':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        eps = f"{r['episodes_selected']}/{r['episodes_total']}"
        lines.append(
            f"{r['dataset_index']:>3}  {r['repo_id']:<{rid_w}} {str(r['robot_type']):<{robot_w}} {r['format']:>6} {r['fps']:>5} "
            f"{eps:>11} {r['frames']:>8} {r['frame_share']:>8.1%} {r['share']:>8.1%}"
        )
    lines.append("-" * len(header))
    lines.append(
        f"total: {report['total_episodes']} episodes, {report['total_frames']} frames at {report['fps']} fps"
    )
    lines.append(f"sampling: shares by {report['mixing']['rule']} (samples% = share of samples drawn)")
    lines.append(f"tasks ({len(report['tasks'])}): {report['tasks']}")
    lines.append("kept features:")
    lines += [f"  {k}: {ft['dtype']} {tuple(ft['shape'])}" for k, ft in report["features"].items()]
    norm = report["normalization"]
    if norm["mode"] != "global":
        lines.append(f"normalization {norm['mode']}: groups {_tally(norm['groups'].values())}")
    cond = report.get("conditioning")
    if cond:
        lines.append(
            f"conditioning on {cond['on']}: one-hot in {cond['feature']} dims {cond['dims']}, "
            f"{len(cond['groups'])} groups:"
        )
        width = max(len(g["group"]) for g in cond["groups"])
        lines += [
            f"  {g['group']:<{width}} {g['frames']:>8} frames {g['frame_share']:>7.1%}"
            for g in cond["groups"]
        ]
    lines += _changes(report)
    for key, sizes in report["padded"].items():
        tally = _tally(sizes.values())
        lines.append(f"padded {key} to {max(sizes.values())} (datasets by size {tally}), mask {key}_pad_mask")
    for key, missing in report["filled_cameras"].items():
        lines.append(f"camera {key} zero-filled for {missing}, mask {key}_pad_mask")
    if report["disabled_features"]:
        lines.append("disabled features (not in every dataset):")
        lines += [f"  {rid}: {keys}" for rid, keys in report["disabled_features"].items()]
    else:
        lines.append("disabled features: none")
    return "\n".join(lines)


def _changes(report: dict) -> list[str]:
    """The report's lines on renamed keys and on what `on_error: skip` left out."""
    lines = []
    if report["renames"]:
        lines.append("renamed keys (own key -> mixture key, by rule):")
        lines += [
            f"  {rid}: {old} -> {r['to']}  ({r['rule']})"
            for rid, renames in report["renames"].items()
            for old, r in renames.items()
        ]
    if report["skipped"]:
        lines.append(f"left out (dataset.on_error=skip), {len(report['skipped'])} datasets:")
        lines += [f"  {s['repo_id']}: {s['reason']}" for s in report["skipped"]]
    if report["skipped_episodes"]:
        lines.append(f"left out (dataset.episode_checks), {len(report['skipped_episodes'])} episodes:")
        lines += [
            f"  {s['repo_id']} episode {s['episode']}: {s['reason']}" for s in report["skipped_episodes"]
        ]
    return lines


def _tally(values) -> dict:
    """{value: how many datasets have it}, most common first: one line for hundreds of datasets."""
    return dict(Counter(values).most_common())
