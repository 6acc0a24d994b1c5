"""Datasets in an S3-compatible object store (moto's server on 127.0.0.1), read through fsspec: the same
samples as the same folders read locally, map-style (fetched into a cache keyed by URL and ETag, reused
offline), streaming (in place) and lerobot-multi-train with resume; clear errors; nothing written to
the store. Each read runs in a client process (tests/hub_client.py): lerobot reads `HF_LEROBOT_HOME`
at import, botocore the `AWS_*` environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from builders import build_dataset
from helpers import train_cmd
from hub_proxy import Fault, HubProxy

pytest.importorskip("s3fs", reason="reading object stores needs s3fs (the `s3` extra)")
s3_server = pytest.importorskip("s3_server", reason="the S3 tests need moto[server] (the `test` extra)")

CLIENT = Path(__file__).with_name("hub_client.py")
IDS = ["lab/a", "lab/b"]
URL = "s3://labdata/robots"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """lab/a (3 episodes) and lab/b (a data and video file per episode) on disk and under URL."""
    base = tmp_path_factory.mktemp("store")
    build_dataset(base / "lab/a", "lab/a", [5, 4, 6], seed=1)
    build_dataset(base / "lab/b", "lab/b", [4, 5, 3], seed=2, file_size_mb=1e-4)
    server = s3_server.S3Server().start()
    for rid in IDS:
        server.upload(base / rid, "labdata", f"robots/{rid}")
    server.base = base
    yield server
    server.stop()


def client(
    store,
    home: Path,
    scenario: str,
    args: dict,
    offline: bool = False,
    credentials: bool = True,
    endpoint: str | None = None,
):
    home.mkdir(parents=True, exist_ok=True)
    out = home / f"result-{len(list(home.glob('result-*')))}.pt"
    run = subprocess.run(
        [sys.executable, str(CLIENT), scenario, str(out), json.dumps(args)],
        env=store.client_env(home, offline, credentials, endpoint),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert s3_server.CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in run.stdout + run.stderr
    return torch.load(out, weights_only=False)


def assert_same_samples(ours: list[dict], local: list[dict]) -> None:
    assert len(ours) == len(local)
    for i, (a, b) in enumerate(zip(ours, local)):
        assert a.keys() == b.keys(), i
        for key in b:
            same = torch.equal(a[key], b[key]) if isinstance(b[key], torch.Tensor) else a[key] == b[key]
            assert same, (i, key)


def files_under(folder: Path, part: str) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in (folder / part).rglob("*") if p.is_file())


def test_map_style_fetches_what_it_reads_into_a_cache_reused_offline(store, tmp_path):
    options = {"episodes": {"lab/b": [1]}}
    local = client(
        store,
        tmp_path / "local",
        "mixture",
        {"repo_ids": IDS, "options": {**options, "root": str(store.base)}},
    )
    before = store.objects("labdata")
    ours = client(store, tmp_path / "home", "mixture", {"repo_ids": IDS, "options": {**options, "root": URL}})
    assert ours["len"] == local["len"] == 15 + 5
    assert_same_samples(ours["samples"], local["samples"])
    assert store.objects("labdata") == before  # nothing written to the store
    cached_b = Path(ours["roots"][1])
    assert cached_b == tmp_path / "home" / "lerobot" / "stores" / "s3" / "labdata" / "robots" / "lab" / "b"
    assert len(files_under(cached_b, "data")) == len(files_under(cached_b, "videos")) == 1  # episode 1's
    assert [d["root"] for d in ours["manifest"]["datasets"]] == [f"{URL}/{rid}" for rid in IDS]

    offline = client(
        store,
        tmp_path / "home",
        "mixture",
        {"repo_ids": IDS, "options": {**options, "root": URL}},
        offline=True,
    )
    assert_same_samples(offline["samples"], local["samples"])


def test_a_changed_object_is_fetched_again(store, tmp_path):
    """The cache is keyed by the objects' ETags: a dataset rewritten in the store is read anew."""
    first, second = tmp_path / "v1", tmp_path / "v2"
    build_dataset(first / "lab/m", "lab/m", [4, 3], seed=5)
    build_dataset(second / "lab/m", "lab/m", [4, 3], seed=6, offset=2.0)
    args = {"repo_ids": ["lab/m"], "options": {"root": "s3://labdata/moving"}}
    store.upload(first / "lab/m", "labdata", "moving/lab/m")
    old = client(store, tmp_path / "home", "mixture", args)
    store.upload(second / "lab/m", "labdata", "moving/lab/m")
    new = client(store, tmp_path / "home", "mixture", args)
    local = client(
        store, tmp_path / "local", "mixture", {"repo_ids": ["lab/m"], "options": {"root": str(second)}}
    )
    assert_same_samples(new["samples"], local["samples"])
    assert not torch.equal(old["samples"][0]["observation.state"], new["samples"][0]["observation.state"])


def test_store_faults_are_retried_and_a_failing_file_is_named(store, tmp_path):
    """Through a proxy that injects faults, as the hub tests do: transient ones are retried (by the S3
    driver) to the same samples; a file that keeps failing is an error naming the dataset and the file,
    and leaves no partial file in the cache."""
    proxy = HubProxy(store.port).start()
    try:
        proxy.faults += [Fault("/lab/a/data/", "503", times=2), Fault("/lab/b/meta/info.json", "drop")]
        args = {"repo_ids": IDS, "options": {"root": URL}}
        ours = client(store, tmp_path / "home", "mixture", args, endpoint=proxy.endpoint)
        local = client(
            store, tmp_path / "local", "mixture", {"repo_ids": IDS, "options": {"root": str(store.base)}}
        )
        assert_same_samples(ours["samples"], local["samples"])
        assert not proxy.faults  # each fault was met, and retried past
        proxy.reset()
        proxy.faults.append(Fault("/lab/b/videos/", "500", times=10_000))
        failed = client(store, tmp_path / "other", "mixture", args, endpoint=proxy.endpoint)
        expected = "dataset 'lab/b': cannot fetch videos/observation.images.top/chunk-000/file-000.mp4 from "
        assert expected + "dataset.root 's3://labdata/robots/lab/b'" in failed["error"], failed
        assert "Internal Server Error" in failed["error"]
        assert not list((tmp_path / "other").rglob("*.partial"))
    finally:
        proxy.stop()


def test_the_stream_reads_the_store_in_place(store, tmp_path):
    args = {
        "repo_ids": IDS,
        "samples": 12,
        "options": {"seed": 3, "delta_timestamps": {"action": [0.0, 1 / 30]}},
    }
    local = client(
        store, tmp_path / "local", "stream", {**args, "options": {**args["options"], "root": str(store.base)}}
    )
    ours = client(store, tmp_path / "home", "stream", {**args, "options": {**args["options"], "root": URL}})
    assert_same_samples(ours["samples"], local["samples"])
    for root in map(Path, ours["roots"]):  # the metadata is cached; rows and frames read in place
        assert files_under(root, "meta") and not (root / "data").exists() and not (root / "videos").exists()


@pytest.mark.parametrize(
    ("root", "credentials", "expected"),
    [
        (
            "s3://no-such-bucket/robots",
            True,
            "dataset 'lab/a': dataset.root 's3://no-such-bucket/robots/lab/a': no such bucket or prefix",
        ),
        (
            "s3://labdata/nothing-here",
            True,
            "dataset 'lab/a': dataset.root 's3://labdata/nothing-here/lab/a': no such bucket or prefix",
        ),
        (URL, False, "dataset 'lab/a': dataset.root 's3://labdata/robots/lab/a': no credentials found"),
        (
            "gs://labdata/robots",
            True,
            "dataset 'lab/a': dataset.root 'gs://labdata/robots/lab/a': cannot read 'gs://': Please install gcsfs",
        ),
        ("nosuchfs://labdata/robots", True, "cannot read 'nosuchfs://' (no fsspec filesystem has this name)"),
    ],
    ids=["missing-bucket", "missing-prefix", "no-credentials", "no-driver", "unknown-scheme"],
)
def test_store_errors_name_the_dataset_and_the_field(store, tmp_path, root, credentials, expected):
    if root.startswith("gs://") and _installed("gcsfs"):
        pytest.skip("gcsfs is installed here")
    before = store.objects("labdata")
    out = client(
        store, tmp_path, "mixture", {"repo_ids": IDS, "options": {"root": root}}, credentials=credentials
    )
    assert expected in out["error"], out["error"]
    assert store.objects("labdata") == before


def test_a_hub_revision_for_a_store_dataset_is_refused(store, tmp_path):
    args = {"repo_ids": IDS, "options": {"root": {"lab/a": f"{URL}/lab/a"}, "revision": {"lab/a": "v3.0"}}}
    out = client(store, tmp_path, "mixture", args)
    assert "dataset.revision['lab/a']: 'v3.0' names a hub revision" in out["error"]


def test_training_from_the_store_equals_training_from_the_folders_and_resumes(store, tmp_path):
    """lerobot-multi-train on the store's datasets learns the same weights as on the local folders, and
    resumes on a fresh node (empty cache)."""
    common = ("--dataset.repo_id=[lab/a,lab/b]", "--steps=2", "--save_freq=2", "--num_workers=0", "--seed=1")
    weights = {}
    for name, root in (("local", store.base), ("store", URL)):
        out = tmp_path / f"run-{name}"
        train(
            store,
            tmp_path / f"home-{name}",
            [*train_cmd(*common, f"--dataset.root={root}"), f"--output_dir={out}"],
            tmp_path,
        )
        weights[name] = (out / "checkpoints" / "last" / "pretrained_model" / "model.safetensors").read_bytes()
    assert weights["store"] == weights["local"]
    saved = tmp_path / "run-store" / "checkpoints" / "last" / "pretrained_model"
    resume = train_cmd(f"--config_path={saved / 'train_config.json'}", "--resume=true", "--steps=3")
    log = train(store, tmp_path / "elsewhere", resume, tmp_path)
    assert "step:3 " in log and "step:1 " not in log
    assert (saved.parent.parent / "000003" / "pretrained_model" / "model.safetensors").exists()


def train(store, home: Path, cmd: list[str], cwd: Path) -> str:
    run = subprocess.run(
        cmd, env=store.client_env(home), cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert s3_server.CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in run.stdout + run.stderr
    return run.stdout + run.stderr


def _installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
