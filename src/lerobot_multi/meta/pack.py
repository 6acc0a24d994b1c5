"""A metadata pack: one file holding what opening a mixture reads from every dataset's `meta/`.

`write_pack(spec, path)` opens the spec's datasets once (metadata and episode checks) and writes a zip:
`pack.json` (the format, the lerobot that wrote it, the episode-check options, and per dataset its
repo_id, revision, commit, the sha256 of each metadata file and the episodes the checks failed) and
each hub dataset's `meta/` files as they are at its commit. `MetadataPack` reads one from a path or a
hub repo (`hf://datasets/<repo>[@<revision>]/<file>`: one resolve), checks every file against its
hash, and `prepare` puts a mixture's hub datasets in lerobot's cache at the pack's commits, so the
open that follows fetches no metadata and lists nothing: only the data and video files it reads.

The raw files are the same on every lerobot line (each line's cache layout is written as that line
keeps it), so a pack from another line opens as long as its episode checks are the ones asked for.
A pack is checked, never trusted silently: a dataset it lacks, a revision that is a commit other than
the pack's, a dataset folder or cached file whose metadata differs from the pack's, or a file whose
bytes do not match their hash is a `DatasetSourceError` naming the dataset and `dataset.metadata_pack`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

from lerobot_multi import compat
from lerobot_multi.meta import hub
from lerobot_multi.meta.locations.hub_cache import LAYOUT
from lerobot_multi.meta.sources import DatasetSource, DatasetSourceError

FORMAT, VERSION = "lerobot-multi-metadata-pack", 1
HEADER = "pack.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def meta_files(root: Path) -> list[str]:
    """A dataset folder's metadata files (paths relative to it), as `meta/` holds them."""
    meta = Path(root) / "meta"
    return sorted(p.relative_to(root).as_posix() for p in meta.rglob("*") if p.is_file())


def check_options(spec) -> dict:
    return {"episode_checks": sorted(spec.episode_checks), "min_episode_frames": spec.min_episode_frames}


def write_pack(spec, path: Path) -> dict:
    """Open `spec`'s datasets and write their metadata pack to `path`; returns its header."""
    from lerobot_multi.meta.opening import open_sources  # opening reads packs: imported on use

    sources, _, skipped, failed = open_sources(spec)
    failures: dict[str, dict[str, str]] = {}
    for episode in failed:
        failures.setdefault(episode.repo_id, {})[str(episode.episode)] = episode.reason
    header = {
        "format": FORMAT,
        "version": VERSION,
        "lerobot": str(compat.LEROBOT_VERSION),
        "checks": check_options(spec),
        "datasets": [],
        "skipped": [{"repo_id": s.repo_id, "reason": s.reason} for s in skipped],
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for i, source in enumerate(sources):
            hashes = {}
            for rel in meta_files(source.root):
                data = (source.root / rel).read_bytes()
                hashes[rel] = sha256(data)
                if source.commit is not None:  # a named folder's files stay where they are
                    archive.writestr(f"files/{i}/{rel}", data)
            header["datasets"].append(
                {
                    "repo_id": source.repo_id,
                    "revision": source.revision,
                    "commit": source.commit,
                    "entry": i,
                    "files": hashes,
                    "failed_episodes": failures.get(source.repo_id, {}),
                }
            )
        archive.writestr(HEADER, json.dumps(header, indent=1))
    partial.replace(path)
    return header


def fetch_pack(location: str) -> Path:
    """A pack's local path: `location` itself, or `hf://datasets/<repo>[@<revision>]/<file>` fetched
    into huggingface_hub's cache (one resolve)."""
    if not location.startswith("hf://"):
        return Path(location).expanduser()
    from huggingface_hub import hf_hub_download

    rest = location.removeprefix("hf://").removeprefix("datasets/")
    parts = rest.split("/", 2)
    if len(parts) < 3:
        raise DatasetSourceError(
            f"dataset.metadata_pack = {location!r}: expected hf://datasets/<owner>/<repo>[@<revision>]/<file>"
        )
    repo_id, _, revision = f"{parts[0]}/{parts[1]}".partition("@")
    return Path(
        hub.with_retries(
            repo_id,
            parts[2],
            lambda: hf_hub_download(repo_id, parts[2], repo_type="dataset", revision=revision or None),
        )
    )


class MetadataPack:
    """A metadata pack read and checked (every file against its hash)."""

    def __init__(self, location: str) -> None:
        self.location = location
        path = fetch_pack(location)
        try:
            with zipfile.ZipFile(path) as archive:
                self.header = json.loads(archive.read(HEADER))
                self.entries = {d["repo_id"]: d for d in self.header["datasets"]}
                self.files = {
                    d["repo_id"]: {rel: archive.read(f"files/{d['entry']}/{rel}") for rel in d["files"]}
                    for d in self.header["datasets"]
                    if d["commit"] is not None
                }
        except (OSError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as e:
            raise DatasetSourceError(
                f"dataset.metadata_pack = {location!r}: not a readable metadata pack ({type(e).__name__}: {e})"
            ) from e
        if self.header.get("format") != FORMAT or self.header.get("version") != VERSION:
            raise DatasetSourceError(
                f"dataset.metadata_pack = {location!r}: not a {FORMAT} version {VERSION} "
                f"(format {self.header.get('format')!r}, version {self.header.get('version')!r})"
            )
        for repo_id, files in self.files.items():
            for rel, data in files.items():
                if sha256(data) != self.entries[repo_id]["files"][rel]:
                    raise DatasetSourceError(
                        f"dataset {repo_id!r}: {rel} in dataset.metadata_pack {location!r} does not match "
                        "its recorded hash: the pack is corrupt or was altered; write it again"
                    )

    def entry(self, source: DatasetSource) -> dict:
        return self.entry_of(source.repo_id)

    def entry_of(self, repo_id: str) -> dict:
        entry = self.entries.get(repo_id)
        if entry is None:
            raise DatasetSourceError(
                f"dataset {repo_id!r}: not in dataset.metadata_pack {self.location!r} (it holds "
                f"{len(self.entries)} datasets, e.g. {sorted(self.entries)[:3]}); write a pack for this mixture"
            )
        return entry

    def failed_episodes(self, repo_id: str, spec) -> dict[int, str]:
        """The episodes the pack's checks failed; the checks must be the ones `spec` asks for."""
        wanted = check_options(spec)
        if self.header["checks"] != wanted:
            raise DatasetSourceError(
                f"dataset.metadata_pack {self.location!r} was written with {self.header['checks']}, the "
                f"mixture asks for {wanted}: write the pack with the mixture's dataset.episode_checks and "
                "dataset.min_episode_frames"
            )
        return {int(e): r for e, r in self.entry_of(repo_id)["failed_episodes"].items()}

    def prepare(
        self, sources: Sequence[DatasetSource], skip: bool
    ) -> tuple[list[DatasetSource], list[tuple[str, str]]]:
        """(the sources pinned at the pack's commits (`commit`), their metadata in lerobot's cache (hub
        datasets), each checked against the pack; (repo_id, reason) of those the pack's writer left
        out, which `skip` leaves out again and `raise` refuses)."""
        left_out = {s["repo_id"]: s["reason"] for s in self.header.get("skipped", [])}
        out = [
            (s.repo_id, f"left out when {self.location} was written: {left_out[s.repo_id]}")
            for s in sources
            if s.repo_id in left_out
        ]
        if out and not skip:
            raise DatasetSourceError(f"dataset {out[0][0]!r}: {out[0][1]} (dataset.metadata_pack)")
        return [self._prepare(s) for s in sources if s.repo_id not in left_out], out

    def _prepare(self, source: DatasetSource) -> DatasetSource:
        entry = self.entry(source)
        if source.url is not None:  # a store's objects carry no commit a pack could be checked against
            raise DatasetSourceError(
                f"dataset {source.repo_id!r}: dataset.metadata_pack covers hub datasets and folders; this "
                f"one is read from dataset.root {source.url!r}: leave the pack out or the URL"
            )
        if source.explicit_root or entry["commit"] is None:
            self._check_folder(source, entry)
            return source
        commit = entry["commit"]
        if source.revision is not None and hub.COMMIT.match(source.revision) and source.revision != commit:
            raise DatasetSourceError(
                f"dataset {source.repo_id!r}: dataset.revision {source.revision} is not the commit "
                f"dataset.metadata_pack {self.location!r} was written at ({commit}): the pack is stale"
            )
        if entry["revision"] != source.revision and not hub.COMMIT.match(source.revision or ""):
            raise DatasetSourceError(
                f"dataset {source.repo_id!r}: dataset.metadata_pack {self.location!r} was written for "
                f"revision {entry['revision']!r}, the mixture asks for {source.revision!r}"
            )
        for rel, data in self.files[source.repo_id].items():
            install(source.repo_id, commit, rel, data, self.location)
        return dataclasses.replace(source, commit=commit)  # read at it; the revision stays the user's

    def _check_folder(self, source: DatasetSource, entry: dict) -> None:
        folder = {rel: sha256((source.root / rel).read_bytes()) for rel in meta_files(source.root)}
        if folder != entry["files"]:
            changed = sorted(
                set(folder) ^ set(entry["files"]) | {r for r in folder if folder[r] != entry["files"].get(r)}
            )
            raise DatasetSourceError(
                f"dataset {source.repo_id!r}: its metadata in {source.root} differs from "
                f"dataset.metadata_pack {self.location!r} ({changed[:3]}): the pack is stale; write it again"
            )


def install(repo_id: str, commit: str, rel: str, data: bytes, location: str) -> None:
    """One metadata file at `commit` in lerobot's cache, as a download would leave it (0.4.4: with
    huggingface_hub's download record); a file already there must hold the same bytes."""
    path = LAYOUT.folder(repo_id, commit) / rel
    if LAYOUT.is_cached(repo_id, commit, rel):
        if sha256(path.read_bytes()) != sha256(data):
            raise DatasetSourceError(
                f"dataset {repo_id!r}: {rel} at {commit} in lerobot's cache differs from "
                f"dataset.metadata_pack {location!r}: the pack (or the cache) was altered"
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".pack-partial")
    partial.write_bytes(data)
    partial.replace(path)
    record = LAYOUT.download_record(repo_id, rel)
    if record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(f"{commit}\n{sha256(data)}\n{time.time()}\n")
