"""The mixture manifest (`mixture.json` in each checkpoint) and the resume check against it.

A manifest says what a checkpoint was trained on: each dataset's repo_id, revision, the hub commit
read (None for a named folder), root, selected and
held-out episodes, weight and share, frames, fps, robot type and normalization group, the mixture's
options, and a fingerprint of each dataset's metadata files (a hash of the bytes of info.json,
meta/episodes, tasks and stats: it changes when a dataset is re-recorded or edited, and costs no data
read). `compare` lists what differs between two manifests, for the resume check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import torch

from lerobot_multi.meta.formats import folder_format
from lerobot_multi.meta.pack import meta_files
from lerobot_multi.meta.sources import revisions_of

MANIFEST_FILE = "mixture.json"


def fingerprint(root: Path) -> str:
    """sha256 over the bytes of a dataset's metadata files (not its data or videos)."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in folder_format(root).metadata_files(root):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build_manifest(dataset, held_out: Mapping[str, list[int]] | None) -> dict:
    """The manifest of a training mixture (`MultiLeRobotDataset` or stream): its spec, shares, held-out
    episodes and each dataset's fingerprint."""
    meta, spec, shares = dataset.meta, dataset.spec, dataset.sampling_shares
    rows = []
    for i, (source, sub) in enumerate(zip(meta.sources, meta.sub_metas)):
        held = sorted((held_out or {}).get(source.repo_id, []))
        selected = list(source.episodes) if source.episodes is not None else list(range(sub.total_episodes))
        rows.append(
            {
                "repo_id": source.repo_id,
                "revision": source.revision,
                "commit": source.commit,
                "root": source.url or str(source.root),
                "episodes": sorted(set(selected) | set(held)),
                "held_out": held,
                "weight": source.weight,
                "share": float(shares[i]),
                "frames": meta.num_frames_of(i),
                "fps": sub.fps,
                "robot_type": sub.robot_type,
                "normalization_group": source.normalization_group,
                "fingerprint": fingerprint(source.root),
                "meta_files": meta_files(source.root) if source.commit else None,
            }
        )
    options = spec.identity_options()
    options["streaming"] = isinstance(dataset, torch.utils.data.IterableDataset)
    cond = meta.conditioning
    if cond is not None:
        options["condition_groups"] = list(cond.groups)
    skipped = [{"repo_id": s.repo_id, "reason": s.reason} for s in meta.skipped]
    episodes = [
        {"repo_id": s.repo_id, "episode": s.episode, "reason": s.reason} for s in meta.skipped_episodes
    ]
    return {"datasets": rows, "options": options, "skipped": skipped, "skipped_episodes": episodes}


def recorded_listings(saved: dict) -> dict[tuple[str, str], list[str]]:
    """{(repo_id, commit): its meta/ files} of a manifest's hub datasets (older manifests: none)."""
    return {
        (d["repo_id"], d["commit"]): d["meta_files"]
        for d in saved["datasets"]
        if d.get("commit") and d.get("meta_files")
    }


def pinned_revisions(given, saved: dict, repo_ids: list[str]) -> str | dict[str, str] | None:
    """`dataset.revision` for resuming a run saved in `saved`: each dataset whose revision is unchanged
    reads the commit the checkpoint recorded (the hub's tag may have moved since)."""
    commits = {d["repo_id"]: d for d in saved["datasets"] if d.get("commit")}
    now = revisions_of(given, repo_ids)
    pinned = {
        rid: commits[rid]["commit"]
        if rid in commits and commits[rid].get("revision") == now[rid]
        else now[rid]
        for rid in repo_ids
    }
    if pinned == now:
        return given
    return {rid: rev for rid, rev in pinned.items() if rev is not None}


def write_manifest(directory: Path, manifest: dict) -> Path:
    path = Path(directory) / MANIFEST_FILE
    path.write_text(json.dumps(manifest, indent=2))
    return path


def read_manifest(path: Path) -> dict:
    path = Path(path)
    return json.loads((path / MANIFEST_FILE if path.is_dir() else path).read_text())


def compare(saved: dict, current: dict) -> list[str]:
    """What changed from `saved` to `current`, one line each (empty: the same mixture)."""
    old = {d["repo_id"]: d for d in saved["datasets"]}
    new = {d["repo_id"]: d for d in current["datasets"]}
    diff = [f"dataset removed: {r}" for r in old if r not in new]
    diff += [f"dataset added: {r}" for r in new if r not in old]
    for repo_id in [r for r in new if r in old]:
        a, b = old[repo_id], new[repo_id]
        # the commit says what was read; the revision as given only where no commit was recorded
        read_at = "commit" if a.get("commit") and b.get("commit") else "revision"
        for key, label in (
            ("episodes", "episodes"),
            ("weight", "weight"),
            (read_at, read_at),
            ("fingerprint", "metadata files (info.json, meta/episodes, tasks, stats) changed"),
        ):
            if a.get(key) != b.get(key):
                if key == "fingerprint":
                    diff.append(f"{repo_id}: {label}")
                elif key == "episodes":
                    gone, added = sorted(set(a[key]) - set(b[key])), sorted(set(b[key]) - set(a[key]))
                    diff.append(f"{repo_id}: episodes removed {gone}, added {added}")
                else:
                    diff.append(f"{repo_id}: {label} {a.get(key)!r} -> {b.get(key)!r}")
    if [d["repo_id"] for d in saved["datasets"] if d["repo_id"] in new] != [
        d["repo_id"] for d in current["datasets"] if d["repo_id"] in old
    ]:
        diff.append("dataset order changed (dataset_index differs)")
    for key in sorted(set(saved["options"]) | set(current["options"])):
        if saved["options"].get(key) != current["options"].get(key):
            diff.append(f"option {key}: {saved['options'].get(key)!r} -> {current['options'].get(key)!r}")
    return diff


def format_manifest(manifest: dict) -> str:
    rows = manifest["datasets"]
    width = max([len("repo_id"), *(len(r["repo_id"]) for r in rows)])
    lines = [
        f"{'repo_id':<{width}} {'robot':<12} {'fps':>4} {'episodes':>8} {'held-out':>8} {'frames':>8} "
        f"{'share':>7} {'group':<12} {'commit':<12} fingerprint"
    ]
    for r in rows:
        lines.append(
            f"{r['repo_id']:<{width}} {str(r['robot_type']):<12} {r['fps']:>4} {len(r['episodes']):>8} "
            f"{len(r['held_out']):>8} {r['frames']:>8} {r['share']:>7.1%} {str(r['normalization_group']):<12} "
            f"{(r.get('commit') or '-')[:12]:<12} {r['fingerprint'][:12]}"
        )
    options = {k: v for k, v in manifest["options"].items() if v not in (None, False)}
    lines.append(f"options: {options}")
    return "\n".join(lines)
