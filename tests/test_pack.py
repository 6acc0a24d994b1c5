"""Metadata packs (meta/pack.py, lerobot-multi-pack): a mixture opened from one file, against the loopback
hub (requests counted by the proxy) and local folders; a pack that does not fit the mixture, is stale,
altered or not a pack is an error naming the dataset and `dataset.metadata_pack`."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest
from builders import build_dataset
from loopback_hub import OLAH, LoopbackHub
from test_hub import assert_equal, client

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.meta.sources import DatasetSourceError
from lerobot_multi.scripts import pack as pack_cli

IDS = ["pk/a", "pk/b", "pk/c"]
CHECKS = {"episode_checks": ["non_finite", "video_frames"]}
needs_hub = pytest.mark.skipif(not OLAH.exists(), reason=f"no olah at {OLAH}: run `make hub-venv`")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    work = tmp_path_factory.mktemp("pack_hub")
    server = LoopbackHub(work).start()
    server.shas = {
        "pk/a": server.publish(build_dataset(work / "built/a", "pk/a", [5, 4], seed=1), "pk/a"),
        "pk/b": server.publish(build_dataset(work / "built/b", "pk/b", [4, 6], seed=2, camera=None), "pk/b"),
        "pk/c": server.publish(build_dataset(work / "built/c", "pk/c", [6], seed=3), "pk/c"),
    }
    yield server
    server.stop()


def before_first_data_file(paths: list[tuple[str, str]]) -> list[str]:
    """The requests made before the first data or video file."""
    out = []
    for _, path in paths:
        if "/data/" in path or "/videos/" in path:
            break
        out.append(path)
    return out


@needs_hub
def test_a_pack_opens_the_mixture_with_no_metadata_request(hub, tmp_path):
    pack = tmp_path / "mix.pack"
    written = client(
        hub, tmp_path / "writer", "pack", {"repo_ids": IDS, "options": CHECKS, "path": str(pack)}
    )
    assert [d["commit"] for d in written["header"]["datasets"]] == [hub.shas[r] for r in IDS]
    plain = client(hub, tmp_path / "plain", "mixture", {"repo_ids": IDS, "options": CHECKS})

    hub.proxy.reset()  # a fresh node with the pack on disk: not one request before the data files
    ours = client(
        hub, tmp_path / "node", "mixture", {"repo_ids": IDS, "options": CHECKS | {"metadata_pack": str(pack)}}
    )
    assert before_first_data_file(hub.proxy.paths) == [] and hub.proxy.counts["api"] == 0, hub.proxy.paths
    assert ours["commits"] == plain["commits"]
    rows = [
        [{k: v for k, v in d.items() if k != "root"} for d in r["manifest"]["datasets"]]
        for r in (ours, plain)
    ]
    assert [{k for k in a if a[k] != b[k]} for a, b in zip(*rows)] == [set()] * len(IDS)
    assert_equal(ours["samples"], plain["samples"])

    packs = tmp_path / "packs"  # published beside the mixture config: one resolve (HEAD + GET)
    packs.mkdir()
    shutil.copy(pack, packs / "mix.pack")
    hub.publish(packs, "pk/packs", tag="main-pack")
    hub.proxy.reset()
    options = CHECKS | {"metadata_pack": "hf://datasets/pk/packs/mix.pack"}
    remote = client(hub, tmp_path / "node2", "mixture", {"repo_ids": IDS, "options": options})
    first = before_first_data_file(hub.proxy.paths)
    assert len(first) <= 2 and all("pk/packs" in p for p in first), first
    assert_equal(remote["samples"], plain["samples"])


@needs_hub
def test_the_stream_opens_from_a_pack(hub, tmp_path):
    """The streaming mixture takes the pack too, with the same samples as its plain open: no API call at
    all (its rows and videos are read by their resolve URLs), and no more requests per dataset than the
    map-style mixture makes from the same pack (docs/reading.md)."""
    pack = tmp_path / "mix.pack"
    client(hub, tmp_path / "writer", "pack", {"repo_ids": IDS, "path": str(pack)})
    runs = {}
    for name, scenario, options in (
        ("plain", "stream", {}),
        ("pack", "stream", {"metadata_pack": str(pack)}),
        ("map-style", "mixture", {"metadata_pack": str(pack)}),
    ):
        hub.proxy.reset()
        args = {"repo_ids": IDS, "options": options, "samples": 20}
        runs[name] = {**client(hub, tmp_path / name, scenario, args), "counts": dict(hub.proxy.counts)}
        runs[name]["paths"] = [p for _, p in hub.proxy.paths]
    pack_counts, map_counts = runs["pack"]["counts"], runs["map-style"]["counts"]
    assert pack_counts.get("api", 0) == 0, [p for p in runs["pack"]["paths"] if "/api/" in p]
    assert sum(pack_counts.values()) <= sum(map_counts.values()), (pack_counts, map_counts)
    assert_equal(runs["pack"]["samples"], runs["plain"]["samples"])


@needs_hub
def test_a_stale_or_altered_pack_is_an_error(hub, tmp_path):
    pack = tmp_path / "mix.pack"
    client(hub, tmp_path / "writer", "pack", {"repo_ids": IDS[:2], "path": str(pack)})
    other = "0" * 40
    stale = client(
        hub,
        tmp_path / "n1",
        "mixture",
        {"repo_ids": IDS[:2], "options": {"metadata_pack": str(pack), "revision": {"pk/a": other}}},
    )
    assert f"dataset 'pk/a': dataset.revision {other} is not the commit" in stale["error"]
    foreign = client(
        hub, tmp_path / "n2", "mixture", {"repo_ids": IDS, "options": {"metadata_pack": str(pack)}}
    )
    assert "dataset 'pk/c': not in dataset.metadata_pack" in foreign["error"]

    altered = tmp_path / "altered.pack"  # one byte of pk/b's info.json changed, its hash kept
    with zipfile.ZipFile(pack) as src, zipfile.ZipFile(altered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(
                item,
                data.replace(b'"fps": 30', b'"fps": 31')
                if item.filename.endswith("1/meta/info.json")
                else data,
            )
    broken = client(
        hub, tmp_path / "n3", "mixture", {"repo_ids": IDS[:2], "options": {"metadata_pack": str(altered)}}
    )
    assert (
        "dataset 'pk/b': meta/info.json in dataset.metadata_pack" in broken["error"]
        and "recorded hash" in broken["error"]
    )


def test_a_pack_of_local_folders_checks_them(data_root, tmp_path, capsys):
    root = tmp_path / "root"
    for repo_id in ("lab/sess_a", "lab/sess_c"):
        shutil.copytree(data_root / repo_id, root / repo_id)
    pack = tmp_path / "local.pack"
    args = ["--dataset.repo_id=[lab/sess_a,lab/sess_c]", f"--dataset.root={root}", f"--output={pack}"]
    assert pack_cli.main(args) == 0
    assert "2 datasets (0 from the hub)" in capsys.readouterr().out
    ds = MultiLeRobotDataset(["lab/sess_a", "lab/sess_c"], root=root, metadata_pack=str(pack))
    assert len(ds) == 29 + 19
    with pytest.raises(
        DatasetSourceError, match=r"was written with .*'episode_checks': \[\].*the mixture asks for"
    ):
        MultiLeRobotDataset(
            ["lab/sess_a", "lab/sess_c"], root=root, metadata_pack=str(pack), episode_checks=["non_finite"]
        )

    info = root / "lab/sess_c/meta/info.json"  # the folder changed since the pack was written
    info.write_text(json.dumps({**json.loads(info.read_text()), "robot_type": "other"}))
    with pytest.raises(
        DatasetSourceError,
        match=r"dataset 'lab/sess_c': its metadata in .* differs from dataset.metadata_pack .*stale",
    ):
        MultiLeRobotDataset(["lab/sess_a", "lab/sess_c"], root=root, metadata_pack=str(pack))
    with pytest.raises(DatasetSourceError, match=r"dataset 'lab/sess_b': not in dataset.metadata_pack"):
        MultiLeRobotDataset(["lab/sess_a", "lab/sess_b"], root=data_root, metadata_pack=str(pack))
    (tmp_path / "junk.pack").write_bytes(b"not a zip")
    with pytest.raises(
        DatasetSourceError, match=r"dataset.metadata_pack = '.*junk.pack': not a readable metadata pack"
    ):
        MultiLeRobotDataset(["lab/sess_a"], root=root, metadata_pack=str(tmp_path / "junk.pack"))
    assert pack_cli.main(["--dataset.repo_id=[lab/sess_a]", f"--dataset.root={root}"]) == 2  # no --output


def test_what_the_packs_writer_left_out_is_left_out_again(data_root, tmp_path):
    from lerobot_multi.meta.pack import write_pack
    from lerobot_multi.meta.spec import MixtureSpec

    ids, pack = ["lab/sess_a", "lab/sess_c", "lab/gone"], tmp_path / "skip.pack"
    options = {"root": data_root, "on_error": "skip", "max_skipped": 0.5}
    header = write_pack(MixtureSpec(ids, **options), pack)
    assert [s["repo_id"] for s in header["skipped"]] == ["lab/gone"]
    ds = MultiLeRobotDataset(ids, metadata_pack=str(pack), **options)
    assert ds.repo_ids == ["lab/sess_a", "lab/sess_c"]
    [(repo_id, reason)] = [(s.repo_id, s.reason) for s in ds.meta.skipped]
    assert repo_id == "lab/gone" and reason.startswith(f"left out when {pack} was written: ")
    with pytest.raises(
        DatasetSourceError, match=r"dataset 'lab/gone': left out when .* \(dataset.metadata_pack\)"
    ):
        MultiLeRobotDataset(ids, root=data_root, metadata_pack=str(pack))
