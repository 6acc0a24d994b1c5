"""One entry per dataset: where it lives and which of its episodes are used.

This is the first step of the data flow (sources -> schema -> metadata/stats -> dataset -> sampler):
it turns the user's `repo_id` list, `root` and `episodes` into validated `DatasetSource` objects, with
an error that names the dataset and the field for every bad input (`source_meta` reads their files).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from lerobot.utils.constants import HF_LEROBOT_HOME

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


RootSpec = str | Path | Mapping[str, str | Path] | None
EpisodesSpec = Sequence[int] | Mapping[str, Sequence[int] | None] | None


@dataclass(frozen=True)
class DatasetSource:
    """One dataset of the mixture: its id, folder and selected source episode ids (None = all)."""

    index: int
    repo_id: str
    root: Path
    explicit_root: bool
    episodes: tuple[int, ...] | None = None
    revision: str | None = None


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


def resolve_root(repo_id: str, root: RootSpec) -> tuple[Path, bool]:
    """Return (dataset folder, whether the user named it) for one repo_id."""
    if not (root is None or isinstance(root, (str, Path, Mapping))):
        raise DatasetSourceError(
            f"dataset.root: expected a folder (holding <repo_id>/ folders) or a mapping "
            f"{{repo_id: folder}}, got {type(root).__name__} {root!r}"
        )
    if root is None:
        return HF_LEROBOT_HOME / repo_id, False
    if isinstance(root, Mapping):
        if repo_id not in root:
            return HF_LEROBOT_HOME / repo_id, False
        return Path(root[repo_id]).expanduser(), True
    base = Path(root).expanduser().resolve()
    folder = (base / repo_id).resolve()
    if base not in folder.parents:
        raise DatasetSourceError(f"dataset {repo_id!r}: root {folder} escapes the root folder {base}")
    return folder, True


def normalize_episodes(repo_ids: Sequence[str], episodes: EpisodesSpec) -> dict[str, tuple[int, ...] | None]:
    """Per-repo episode selection; a plain list is allowed for a single dataset only."""
    if episodes is None:
        return dict.fromkeys(repo_ids)
    if not isinstance(episodes, Mapping):
        if len(repo_ids) != 1:
            raise DatasetSourceError(
                "dataset.episodes: a plain list of episode ids is ambiguous with several datasets; "
                "use a mapping {repo_id: [ids] or null}"
            )
        episodes = {repo_ids[0]: episodes}
    unknown = [k for k in episodes if k not in repo_ids]
    if unknown:
        raise DatasetSourceError(
            f"dataset.episodes names {unknown} which are not in dataset.repo_id {list(repo_ids)}"
        )
    out: dict[str, tuple[int, ...] | None] = {}
    for rid in repo_ids:
        sel = episodes.get(rid)
        if sel is None:
            out[rid] = None
            continue
        if isinstance(sel, np.ndarray) and sel.ndim == 1 and sel.dtype.kind in "iu":
            sel = sel.tolist()  # numpy ids are ids
        elif not isinstance(sel, (str, bytes)) and hasattr(sel, "__iter__"):
            sel = [e.item() if isinstance(e, np.integer) else e for e in sel]
        if isinstance(sel, (str, bytes)) or not all(
            isinstance(e, int) and not isinstance(e, bool) for e in sel
        ):
            raise DatasetSourceError(f"dataset.episodes[{rid!r}]: expected a list of integers, got {sel!r}")
        if len(set(sel)) != len(sel):
            raise DatasetSourceError(f"dataset.episodes[{rid!r}]: episode ids repeat in {list(sel)}")
        if not sel:
            raise DatasetSourceError(
                f"dataset.episodes[{rid!r}]: empty selection; drop the dataset from repo_id instead"
            )
        out[rid] = tuple(sorted(sel))  # on-disk order, so global numbering follows storage order
    return out


def make_sources(
    repo_ids: str | Sequence[str],
    root: RootSpec = None,
    episodes: EpisodesSpec = None,
    revision: str | None = None,
) -> list[DatasetSource]:
    """Validate the user's dataset arguments into one `DatasetSource` per dataset, in the given order.

    A single repo_id as a string takes `root` in lerobot's meaning: the dataset's own folder (as
    `LeRobotDataset(repo_id, root=...)`); with a list, `root` holds `<repo_id>/` folders.
    """
    if isinstance(repo_ids, str) and isinstance(root, (str, Path)):
        root = {repo_ids: root}
    ids = normalize_repo_ids(repo_ids)
    if isinstance(root, Mapping):
        unknown = [k for k in root if k not in ids]
        if unknown:
            raise DatasetSourceError(f"dataset.root names {unknown} which are not in dataset.repo_id {ids}")
    selection = normalize_episodes(ids, episodes)
    sources = []
    for i, rid in enumerate(ids):
        folder, explicit = resolve_root(rid, root)
        sources.append(DatasetSource(i, rid, folder, explicit, selection[rid], revision))
    return sources


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
