"""Which location a dataset's source names (`location_of`)."""

from __future__ import annotations

from lerobot_multi.meta.locations.base import Location
from lerobot_multi.meta.locations.folder import NamedFolder
from lerobot_multi.meta.locations.hub_cache import LAYOUT, HubRepo, RecordingFolder
from lerobot_multi.meta.locations.object_store import StoreLocation
from lerobot_multi.meta.sources import DatasetSource


def location_of(source: DatasetSource) -> Location:
    """Where `source`'s files are: its URL's store; the folder the user named; once read from the hub,
    the cache folder of its commit; a recording at `HF_LEROBOT_HOME/<repo_id>` that lerobot reads in
    place; else the hub repo at its revision (`commit`, when known, pins it)."""
    if source.url is not None:
        return StoreLocation.of(source.repo_id, source.url)
    if source.explicit_root:
        return NamedFolder(source.repo_id, source.root)
    if source.commit is not None and source.root == LAYOUT.folder(source.repo_id, source.commit):
        return HubRepo.of(source.repo_id, source.revision, source.commit)
    if LAYOUT.is_recording(source.root) and not LAYOUT.pinned_elsewhere(
        source.repo_id, source.commit or source.revision
    ):
        return RecordingFolder(source.repo_id, source.root, source.commit, revision=source.revision)
    return HubRepo.of(source.repo_id, source.revision, source.commit)
