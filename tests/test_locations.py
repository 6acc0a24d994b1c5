"""Where a dataset's files live (meta/locations/): which location each way of naming a dataset gives,
what each one reads in place and what it fetches; the folders read in place are the tests' real
datasets."""

from __future__ import annotations

import pytest
from conftest import SAME
from lerobot.utils.constants import HF_LEROBOT_HOME

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset
from lerobot_multi.meta.locations import location_of
from lerobot_multi.meta.locations.folder import NamedFolder
from lerobot_multi.meta.locations.hub_cache import LAYOUT, HubRepo, RecordingFolder
from lerobot_multi.meta.locations.hub_files import HubResolveFileSystem
from lerobot_multi.meta.locations.object_store import StoreLocation
from lerobot_multi.meta.source_meta import load_source_metadata
from lerobot_multi.meta.spec import MixtureSpec

COMMIT = "a" * 40


def sources(repo_ids, **options):
    return MixtureSpec(repo_ids, **options).sources()


def test_each_way_of_naming_a_dataset_has_its_location(data_root, tmp_path):
    named, recorded, hub, store = sources(
        [SAME[0], "lab/recorded", "lab/on_hub", "lab/in_store"],
        root={SAME[0]: data_root / SAME[0], "lab/in_store": "s3://bucket/prefix/in_store/"},
    )
    assert location_of(named) == NamedFolder(SAME[0], data_root / SAME[0])
    assert not location_of(named).fetches and location_of(named).stream_root() == str(data_root / SAME[0])
    store_location = location_of(store)
    assert isinstance(store_location, StoreLocation) and store_location.is_remote
    assert store_location.url == "s3://bucket/prefix/in_store"
    assert store_location.folder == HF_LEROBOT_HOME / "stores" / "s3" / "bucket" / "prefix" / "in_store"
    assert isinstance(location_of(hub), HubRepo) and location_of(hub).is_remote
    if not LAYOUT.is_recording(recorded.root):  # nothing recorded at HF_LEROBOT_HOME/lab/recorded
        assert isinstance(location_of(recorded), HubRepo)


def test_a_parent_url_holds_repo_id_folders(data_root):
    (source,) = sources(["lab/x"], root="s3://bucket/robots")
    assert source.url == "s3://bucket/robots/lab/x" and not source.explicit_root
    (single,) = sources("lab/x", root="s3://bucket/only_x")  # a single id: the dataset's own URL
    assert single.url == "s3://bucket/only_x"


def test_a_hub_dataset_read_at_a_commit_is_read_from_lerobots_cache():
    (source,) = sources(["lab/on_hub"])
    read = HubRepo.of(source.repo_id, None, COMMIT)
    assert read.folder == LAYOUT.folder("lab/on_hub", COMMIT) and read.commit == COMMIT
    assert read.stream_root() == f"hf-resolve://datasets/lab/on_hub@{COMMIT}"
    resolved = dict(source.__dict__, root=read.folder, commit=COMMIT)
    assert location_of(type(source)(**resolved)) == read


def test_resolve_urls_carry_the_repo_and_the_commit():
    fs = HubResolveFileSystem()
    url = str(fs.encode_url(f"hf-resolve://datasets/org/name@{COMMIT}/data/chunk-000/file-000.parquet"))
    assert url.endswith(f"/datasets/org/name/resolve/{COMMIT}/data/chunk-000/file-000.parquet")
    assert fs._strip_protocol("hf-resolve://datasets/org/name@x/y") == "hf-resolve://datasets/org/name@x/y"


def test_a_recording_at_lerobot_home_is_read_in_place(data_root):
    """A dataset without a named folder whose `HF_LEROBOT_HOME/<repo_id>` holds a recording: read in
    place (here a source pointing at a test folder as if it were that one), the hub its fallback."""
    (source,) = sources([SAME[0]])
    source = type(source)(**dict(source.__dict__, root=data_root / SAME[0]))
    location = location_of(source)
    assert isinstance(location, RecordingFolder) and not location.is_remote and not location.fetches
    assert isinstance(location.when_incomplete(), HubRepo)
    meta = load_source_metadata(source)
    assert meta.location.folder == meta.root == data_root / SAME[0] and meta.total_episodes == 3


def test_an_uncached_store_offline_is_an_error_naming_the_field(tmp_path):
    with pytest.raises(
        DatasetSourceError, match=r"dataset 'lab/x': dataset.root 'file://.*' is not in the local cache"
    ):
        MultiLeRobotDataset(["lab/x"], root=f"file://{tmp_path}")
