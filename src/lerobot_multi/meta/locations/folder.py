"""A folder the user named (`dataset.root`): read in place, never written."""

from __future__ import annotations

from dataclasses import dataclass

from lerobot_multi.meta.locations.base import Location


@dataclass(frozen=True)
class NamedFolder(Location):
    """A dataset folder the user named: every file is read where it is; a missing one is an error
    (lerobot would fetch it from the hub into the folder), never a download."""
