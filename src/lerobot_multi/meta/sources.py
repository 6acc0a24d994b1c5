"""One entry per dataset: where it lives and which of its episodes are used.

This is the first step of the data flow (sources -> schema -> metadata/stats -> dataset -> sampler):
it turns the user's `repo_id` list, `root` and `episodes` into validated `DatasetSource` objects, with
an error that names the dataset and the field for every bad input (`source_meta` reads their files).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from lerobot.utils.constants import HF_LEROBOT_HOME

from lerobot_multi.meta import rules
from lerobot_multi.meta.parallel import parallel_map, resolve_processes

logger = logging.getLogger(__name__)
R = TypeVar("R")

# Hub ids are "name" or "owner/name" made of letters, digits, '-', '_', '.'; never '..' or absolute.
_HUB_ID_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class DatasetSourceError(ValueError):
    """A dataset in the mixture is missing, malformed or badly configured."""


class IncompleteDatasetError(DatasetSourceError):
    """A dataset folder lacks a piece (metadata, data or video file): lerobot would fetch it from the
    hub; for a folder the user named it is an error, otherwise the dataset is downloaded first."""


class MixtureHasNoFolderError(AttributeError):
    """`root` of a mixture whose datasets are in several folders: it has none of its own. lerobot's dataset_tools
    (delete_episodes, split_dataset, recompute_stats, ...) read `dataset.root` to rewrite one
    dataset's files; on a mixture they stop here instead of writing into a folder the user named."""

    def __init__(self, mixture: str, roots: Sequence[Path]):
        listing = ", ".join(str(r) for r in roots[:3]) + (", ..." if len(roots) > 3 else "")
        super().__init__(
            f"{mixture}: a mixture of several folders has no root folder (its datasets are in {listing}; "
            "read sources[i].root). lerobot's dataset_tools (delete_episodes, split_dataset, "
            "merge_datasets, modify_features, add_features, remove_feature, modify_tasks, "
            "recompute_stats, convert_image_to_video_dataset, reencode_dataset) rewrite one dataset's "
            "files and are not supported on a mixture: call them on "
            "LeRobotDataset(sources[i].repo_id, root=sources[i].root)"
        )


RootSpec = str | Path | Mapping[str, str | Path] | None
EpisodesSpec = Sequence[int] | Mapping[str, Sequence[int] | None] | None


@dataclass(frozen=True)
class DatasetSource:
    """One dataset of the mixture and every fact about it that the user's options give, parsed once.

    `make_sources` builds them from a `MixtureSpec`; every consumer reads a dataset's options here, not
    from the spec's `{repo_id: x}` mappings, except `rename_map`, whose rules are applied as written
    (`rules.renames_in_use`: which rule renamed a key decides its errors). What the dataset's files say (format, fps, robot type,
    features) is its `SourceMetadata` (source_meta.py).

    Fields: position in the mixture (`dataset_index`), hub id, folder and whether the user named it,
    revision, selected source episode ids (None = all), weight (its share before normalizing, None =
    by frames or temperature), delta-timestamp overrides {key: seconds} (None =
    the policy's), held-out episode ids named by `val_episodes` (None = by fraction/count or none),
    the episode filter until it is resolved into `episodes`, and, once its files are read, its format
    and normalization group.
    """

    index: int
    repo_id: str
    root: Path
    explicit_root: bool
    # an object store's (fsspec) URL the files are fetched from into `root`; None off a store
    url: str | None = None
    episodes: tuple[int, ...] | None = None
    # episode ids left out of `episodes`, until `opening.apply_exclusions` resolves them into it
    exclude_episodes: tuple[int, ...] | None = None
    revision: str | None = None
    # the hub commit its files are read at (meta/hub.py), set when they are read; None for a named folder
    commit: str | None = None
    weight: float | None = None
    delta_override: Mapping[str, tuple[float, ...]] | None = None
    val_episodes: tuple[int, ...] | None = None
    # lerobot 0.6's predicate over episode rows, until `opening.apply_episode_filter` resolves it
    # into `episodes` (in the main process: a predicate need not pickle, so pickling drops it)
    episode_filter: Callable[[dict], bool] | None = field(default=None, compare=False)
    # facts of its files, set once they are read (`opening.open_sources`): its format (a
    # `formats.DatasetFormat`) and its normalization group under the spec's normalization_mode
    format: Any = None
    normalization_group: str | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "episode_filter": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


def per_dataset(option: str, value: Mapping | None, repo_ids: Sequence[str]) -> dict[str, Any]:
    """{repo_id: value} of a per-dataset mapping option, whose keys are repo ids or glob patterns over
    them (`rules.py`: precedence); the one check that it names only datasets of the mixture (every
    `{repo_id: x}` option goes through here)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise DatasetSourceError(
            f"dataset.{option}: expected a mapping {{repo_id: value}}, got {type(value).__name__} {value!r}"
        )
    known = set(repo_ids)
    unknown = [k for k in value if not rules.is_pattern(k) and k not in known]
    if unknown:
        raise DatasetSourceError(
            f"dataset.{option} names {unknown} which are not in dataset.repo_id {list(repo_ids)}"
        )
    patterns = [k for k in value if rules.is_pattern(k)]
    if patterns and option in rules.EXACT_ONLY:
        raise DatasetSourceError(
            f"dataset.{option}: patterns {patterns} are not allowed here; name each repo_id"
        )
    unmatched = rules.unmatched_patterns(value, repo_ids)
    if unmatched:
        raise DatasetSourceError(
            f"dataset.{option}: patterns {unmatched} match no dataset in dataset.repo_id {list(repo_ids)}"
        )
    resolved, bad = rules.resolve(option, value, repo_ids)
    if bad:
        raise DatasetSourceError(
            f"dataset.{option}: the entries for {bad} must be mappings (several rules apply and merge)"
        )
    return resolved


def validate_repo_id(repo_id: object, position: int) -> str:
    """Reject ids that are not hub-shaped: they would escape the dataset folder or the hub namespace."""
    if not isinstance(repo_id, str) or not repo_id.strip():
        raise DatasetSourceError(f"dataset.repo_id[{position}]: expected a non-empty string, got {repo_id!r}")
    parts = repo_id.split("/")
    if (
        repo_id.startswith("/")
        or len(parts) > 2
        or any(not _HUB_ID_PART.match(p) or ".." in p for p in parts)
    ):
        raise DatasetSourceError(
            f"dataset.repo_id[{position}]={repo_id!r} is not a valid dataset id: expected 'name' or "
            "'owner/name' with letters, digits, '-', '_' or '.', no '..' and no absolute path. "
            "To use a local folder, pass it through `root` (a folder holding <repo_id>/ or a "
            "{repo_id: folder} mapping)."
        )
    return repo_id


def normalize_repo_ids(repo_ids: str | Sequence[str]) -> list[str]:
    """Validate the id list: non-empty, each id hub-shaped, no id twice."""
    ids = [repo_ids] if isinstance(repo_ids, str) else list(repo_ids)
    if not ids:
        raise DatasetSourceError("dataset.repo_id: the list of datasets is empty; give at least one repo_id")
    seen: dict[str, int] = {}
    for pos, rid in enumerate(ids):
        validate_repo_id(rid, pos)
        if rid in seen:
            raise DatasetSourceError(
                f"dataset.repo_id: {rid!r} is listed twice (positions {seen[rid]} and {pos}); "
                "each dataset may appear once (use `episodes` to select parts of it)"
            )
        seen[rid] = pos
    return ids


def resolve_root(repo_id: str, root: RootSpec) -> tuple[Path, bool, str | None]:
    """Return (dataset folder, whether the user named it, its store URL) for one repo_id. A URL root
    (`s3://bucket/prefix`, per dataset or as the parent of `<repo_id>/`) is read through fsspec, its
    files fetched into a local cache folder (meta/locations/object_store.py)."""
    if not (root is None or isinstance(root, (str, Path, Mapping))):
        raise DatasetSourceError(
            f"dataset.root: expected a folder (holding <repo_id>/ folders), a URL or a mapping "
            f"{{repo_id: folder or URL}}, got {type(root).__name__} {root!r}"
        )
    if root is None or (isinstance(root, Mapping) and repo_id not in root):
        return HF_LEROBOT_HOME / repo_id, False, None
    own = isinstance(root, Mapping)
    given = root[repo_id] if own else root
    if isinstance(given, str) and "://" in given:
        url = given.rstrip("/") if own else f"{given.rstrip('/')}/{repo_id}"
        from lerobot_multi.meta.locations.object_store import cache_folder  # the store's layout

        return cache_folder(url), False, url
    if own:
        return Path(given).expanduser(), True, None
    base = Path(root).expanduser().resolve()
    folder = (base / repo_id).resolve()
    if base not in folder.parents:
        raise DatasetSourceError(f"dataset {repo_id!r}: root {folder} escapes the root folder {base}")
    return folder, True, None


def normalize_episodes(
    repo_ids: Sequence[str], episodes: EpisodesSpec, option: str = "episodes"
) -> dict[str, tuple[int, ...] | None]:
    """Per-repo episode ids of `episodes` or `exclude_episodes`; a plain list only for a single dataset."""
    if episodes is not None and not isinstance(episodes, Mapping):
        if len(repo_ids) != 1:
            raise DatasetSourceError(
                f"dataset.{option}: a plain list of episode ids is ambiguous with several datasets; "
                "use a mapping {repo_id: [ids] or null}"
            )
        episodes = {repo_ids[0]: episodes}
    given = per_dataset(option, episodes, repo_ids)
    return {rid: episode_ids(option, rid, given.get(rid)) for rid in repo_ids}


def episode_ids(option: str, repo_id: str, sel: object) -> tuple[int, ...] | None:
    """A list of distinct episode ids (numpy ids are ids), in storage order; None stays None."""
    if sel is None:
        return None
    if isinstance(sel, np.ndarray) and sel.ndim == 1 and sel.dtype.kind in "iu":
        sel = sel.tolist()
    elif not isinstance(sel, (str, bytes)) and hasattr(sel, "__iter__"):
        sel = [e.item() if isinstance(e, np.integer) else e for e in sel]
    if isinstance(sel, (str, bytes)) or not all(isinstance(e, int) and not isinstance(e, bool) for e in sel):
        raise DatasetSourceError(f"dataset.{option}[{repo_id!r}]: expected a list of integers, got {sel!r}")
    if len(set(sel)) != len(sel):
        raise DatasetSourceError(f"dataset.{option}[{repo_id!r}]: episode ids repeat in {list(sel)}")
    if not sel and option == "episodes":
        raise DatasetSourceError(
            f"dataset.episodes[{repo_id!r}]: empty selection; drop the dataset from repo_id instead"
        )
    return tuple(sorted(sel))  # on-disk order, so global numbering follows storage order


def normalize_weights(
    weights: Sequence[float] | Mapping[str, float] | None, repo_ids: Sequence[str]
) -> dict[str, float] | None:
    """User weights (a list aligned with repo_ids, or {repo_id: weight} naming every dataset)."""
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        given = per_dataset("weights", weights, repo_ids)
        missing = [r for r in repo_ids if r not in given]
        if missing:
            raise DatasetSourceError(f"dataset.weights has no weight for {missing}; give one per dataset")
    else:
        values = list(weights)
        if len(values) != len(repo_ids):
            raise DatasetSourceError(
                f"dataset.weights has {len(values)} entries for {len(repo_ids)} datasets {list(repo_ids)}"
            )
        given = dict(zip(repo_ids, values))
    out = {}
    for rid in repo_ids:
        w = given[rid].item() if isinstance(given[rid], np.generic) else given[rid]
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
            raise DatasetSourceError(
                f"dataset.weights[{rid!r}] = {w!r}: weights must be finite numbers > 0 "
                "(drop a dataset from repo_id to leave it out)"
            )
        out[rid] = float(w)
    return out


def check_renames(repo_id: str, value: object) -> None:
    """One dataset's merged `rename_map` entries: {old key: new key}, strings (applied per rule, against
    its features, by `rules.renames_in_use`)."""
    if value is not None and (
        not isinstance(value, Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        raise DatasetSourceError(
            f"dataset.rename_map[{repo_id!r}]: expected {{old_key: new_key}}, got {value!r}"
        )


def delta_override_of(repo_id: str, value: object) -> dict[str, tuple[float, ...]] | None:
    """One dataset's `delta_timestamps` override: {key: [seconds]}."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(v, Sequence) and not isinstance(v, str) for v in value.values()
    ):
        raise DatasetSourceError(
            f"dataset.delta_timestamps[{repo_id!r}]: expected {{key: [seconds]}}, got {value!r}"
        )
    return {str(k): tuple(float(t) for t in v) for k, v in value.items()}


def episode_filters(value: object, repo_ids: Sequence[str]) -> dict[str, Callable[[dict], bool]]:
    """`episode_filter`: one predicate for every dataset, or {repo_id: predicate}."""
    if value is None:
        return {}
    if callable(value):
        return dict.fromkeys(repo_ids, value)
    if not isinstance(value, Mapping) or not all(callable(f) for f in value.values()):
        raise DatasetSourceError(
            f"dataset.episode_filter = {value!r}: expected a callable (a predicate over an episode's row) "
            "or {repo_id: callable}"
        )
    return per_dataset("episode_filter", value, repo_ids)


def make_sources(spec) -> list[DatasetSource]:
    """Validate a `MixtureSpec`'s per-dataset options into one `DatasetSource` per dataset, in order.

    A single repo_id as a string takes `root` in lerobot's meaning: the dataset's own folder (as
    `LeRobotDataset(repo_id, root=...)`); with a list, `root` holds `<repo_id>/` folders.
    """
    root = spec.root
    if isinstance(spec.repo_ids, str) and isinstance(root, (str, Path)):
        root = {spec.repo_ids: root}
    ids = normalize_repo_ids(spec.repo_ids)
    if isinstance(root, Mapping):
        per_dataset("root", root, ids)
    selection = normalize_episodes(ids, spec.episodes)
    excluded = normalize_episodes(ids, spec.exclude_episodes, "exclude_episodes")
    weights = normalize_weights(spec.weights, ids) or {}
    revisions = revisions_of(spec.revision, ids)
    renames = per_dataset("rename_map", spec.rename_map, ids)
    for rid in ids:
        check_renames(rid, renames.get(rid))
    deltas = per_dataset("delta_timestamps", spec.delta_overrides, ids)
    held = per_dataset(
        "val_episodes", spec.val_episodes if isinstance(spec.val_episodes, Mapping) else None, ids
    )
    filters = episode_filters(spec.episode_filter, ids)
    sources = []
    for i, rid in enumerate(ids):
        folder, explicit, url = resolve_root(rid, root)
        if url is not None and revisions[rid] is not None:
            raise DatasetSourceError(
                f"dataset.revision[{rid!r}]: {revisions[rid]!r} names a hub revision, and this dataset is "
                f"read from dataset.root {url!r}"
            )
        source = DatasetSource(
            index=i,
            repo_id=rid,
            root=folder,
            explicit_root=explicit,
            url=url,
            episodes=selection[rid],
            exclude_episodes=excluded[rid] or None,
            revision=revisions[rid],
            weight=weights.get(rid),
            delta_override=delta_override_of(rid, deltas.get(rid)),
            val_episodes=episode_ids("val_episodes", rid, held.get(rid)),
            episode_filter=filters.get(rid),
        )
        sources.append(source)
    return sources


def revisions_of(revision: str | Mapping[str, str] | None, repo_ids: Sequence[str]) -> dict[str, str | None]:
    """Each dataset's revision: one for all, or `{repo_id: revision}` (the others: lerobot's default)."""
    given = per_dataset("revision", revision, repo_ids) if isinstance(revision, Mapping) else None
    if given is None and revision is not None and not isinstance(revision, str):
        raise DatasetSourceError(
            f"dataset.revision: expected a branch, tag or commit, or {{repo_id: revision}}, got {revision!r}"
        )
    for rid, value in (given or {}).items():
        if not isinstance(value, str) or not value:
            raise DatasetSourceError(
                f"dataset.revision[{rid!r}]: expected a branch, tag or commit, got {value!r}"
            )
    return {rid: (given.get(rid) if given is not None else revision) for rid in repo_ids}


def map_sources(
    fn: Callable[[DatasetSource], R],
    sources: Sequence[DatasetSource],
    max_workers: int | None = None,
    open_processes: int | None = None,
) -> list[R]:
    """`fn` over every source, in order, on threads or spawned processes (`parallel.resolve_processes`)."""
    try:
        processes = resolve_processes(open_processes, len(sources))
    except ValueError as e:
        raise DatasetSourceError(str(e)) from None
    return parallel_map(fn, sources, max_workers, processes)
