"""Where a dataset's files live, one object per place (`Location`): a folder the user named
(`NamedFolder`), a recording lerobot reads in place (`RecordingFolder`), a hub repo fetched into
lerobot's cache (`HubRepo`, the cache's layout per lerobot line in `CacheLayout`), an object store or
other fsspec URL (`StoreLocation`). `location_of(source)` is the one place that decides which; no
other module asks where a dataset's files are.
"""

from __future__ import annotations

from lerobot_multi.meta.locations.base import Location, fetch_all
from lerobot_multi.meta.locations.choose import location_of

__all__ = ["Location", "fetch_all", "location_of"]
