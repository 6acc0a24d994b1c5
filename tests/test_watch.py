"""Watching a run: held-out episodes per dataset, validation loss, realized shares, the report, and the
mixture manifest that --resume checks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import SAME
from helpers import run, tiny_act, train_cmd
from lerobot.policies.factory import make_policy, make_pre_post_processors
from safetensors.torch import load_file

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset
from lerobot_multi.compat import LINE
from lerobot_multi.meta.mixing import apportion
from lerobot_multi.scripts import info
from lerobot_multi.train.manifest import compare, read_manifest, write_manifest
from lerobot_multi.train.report import training_loss, write_report
from lerobot_multi.train.validation import ValidationSet, split_by_task, split_episodes

SELECTIONS = {"lab/sess_a": [0, 1, 2], "lab/sess_b": [0, 1, 2, 3], "lab/sess_c": [0, 1], "lab/one": [0]}


def test_split_is_deterministic_disjoint_and_keeps_training_episodes():
    a = split_episodes(SELECTIONS, 0.3, seed=1)
    assert a == split_episodes(SELECTIONS, 0.3, seed=1)
    assert [len(a[r]) for r in SELECTIONS] == [1, 1, 1, 0]  # at least one where 2+, none of 1
    assert all(set(a[r]) <= set(SELECTIONS[r]) and len(a[r]) < len(SELECTIONS[r]) for r in SELECTIONS)
    assert [len(v) for v in split_episodes(SELECTIONS, 3, seed=1).values()] == [2, 3, 1, 0]
    # another dataset in the mixture leaves the others' splits alone
    assert split_episodes({**SELECTIONS, "lab/new": [0, 1]}, 0.3, seed=1)["lab/sess_b"] == a["lab/sess_b"]
    assert split_episodes(SELECTIONS, {"lab/sess_b": [3]}, seed=1)["lab/sess_b"] == [3]
    kept = split_episodes(SELECTIONS, 0.5, seed=9, keep={"lab/sess_a": [2]})
    assert kept["lab/sess_a"] == [2]
    with pytest.raises(DatasetSourceError, match=r"'lab/sess_c'.*\[5\] that are not among"):
        split_episodes(SELECTIONS, {"lab/sess_c": [5]}, seed=0)
    with pytest.raises(DatasetSourceError, match=r"'lab/sess_c'.*holds out all 2"):
        split_episodes(SELECTIONS, {"lab/sess_c": [0, 1]}, seed=0)
    with pytest.raises(DatasetSourceError, match="val_episodes = 1.5"):
        split_episodes(SELECTIONS, 1.5, seed=0)


def test_validation_loss_is_the_policys_loss_on_the_same_batches(data_root):
    held = {"lab/sess_a": [1], "lab/sess_b": [0, 2]}
    dt = {"action": [i / 30 for i in range(4)]}
    full = MultiLeRobotDataset(SAME, root=data_root, delta_timestamps=dt)
    val = ValidationSet(full, held, batch_size=4, max_batches=2, seed=0)
    assert set(val.indices) == {"lab/sess_a", "lab/sess_b"} and val.frames == {
        "lab/sess_a": 7,
        "lab/sess_b": 8,
    }
    episodes = full.meta.episodes
    for repo_id, idx in val.indices.items():
        d = full.repo_ids.index(repo_id)
        sources = {int(episodes[int(full[int(i)]["episode_index"])]["source_episode_index"]) for i in idx}
        assert sources <= set(held[repo_id]) and all(int(full[int(i)]["dataset_index"]) == d for i in idx)
    cfg = tiny_act()
    cfg.use_vae = False  # deterministic in eval mode: the loss by hand needs no RNG replay
    policy = make_policy(cfg, ds_meta=full.meta)
    pre, _ = make_pre_post_processors(cfg, dataset_stats=full.meta.stats)
    policy.train()
    losses = val.losses(policy, pre)
    assert policy.training  # restored
    policy.eval()
    with torch.no_grad():
        for repo_id, idx in val.indices.items():
            total = 0.0
            for a in range(0, len(idx), 4):
                batch = torch.utils.data.default_collate([full[int(i)] for i in idx[a : a + 4]])
                total += float(policy.forward(pre(batch))[0]) * len(batch["index"])
            assert losses[repo_id] == pytest.approx(total / len(idx), rel=1e-6)
    vae = make_policy(tiny_act(), ds_meta=full.meta)  # ACT's loss through its VAE: same every time
    assert val.losses(vae, pre) == val.losses(vae, pre) and vae.training


WATCHED = [
    f"--dataset.repo_id=[{','.join(SAME)}]",
    "--dataset.val_episodes=1",
    "--dataset.weights=[1,1,2]",
    "--dataset.epoch_size=24",
    "--log_freq=6",
    "--save_freq=3",
    "--num_workers=0",
]


@pytest.fixture(scope="module")
def watched(data_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("watch")
    out = tmp / "run"
    args = [*WATCHED, f"--dataset.root={data_root}", f"--output_dir={out}", "--steps=6"]
    wandb = [
        "--wandb.enable=true",
        "--wandb.mode=offline",
        "--wandb.disable_artifact=true",
        "--wandb.project=t",
    ]
    # wandb-core samples system metrics on a core of its own; off here (docs/watching.md)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "WANDB_DIR": str(tmp)}
    env["WANDB_X_DISABLE_STATS"] = "true"
    cmd = [c for c in train_cmd(*args) if c != "--log_freq=1" and c != "--wandb.enable=false"] + wandb
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return tmp, out, proc.stdout + proc.stderr


def test_run_logs_validation_shares_report_and_manifest(watched, data_root):
    tmp, out, log = watched
    records = [json.loads(line) for line in (out / "val_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 6] and set(records[0]["loss"]) == set(SAME)
    assert "validation loss: lab/sess_a" in log and "first val" in log and "held-out" in log
    # realized shares over one epoch (6 steps x 4 = epoch_size 24) are the sampler's exact shares
    window = json.loads((out / "mixture_shares.jsonl").read_text().splitlines()[0])
    assert list(window["drawn"].values()) == apportion(24, np.array([0.25, 0.25, 0.5])).tolist()
    assert "samples drawn per dataset: lab/sess_a 6 (25.0%, target 25.0%)" in log
    # the window's training loss: lerobot's logged average over the same 6 updates
    logged = re.search(r"step:6 .*?loss:([0-9.]+)", log)
    assert logged is not None and f"{window['loss']:.3f}" == logged.group(1), (window, log[-2000:])
    assert (out / "training_report.png").stat().st_size > 10_000
    manifest = read_manifest(out / "checkpoints/last/pretrained_model")
    rows = {d["repo_id"]: d for d in manifest["datasets"]}
    assert [len(rows[r]["held_out"]) for r in SAME] == [1, 1, 1] and rows["lab/sess_b"]["weight"] == 1
    assert rows["lab/sess_b"]["episodes"] == [0, 1, 2, 3] and len(rows["lab/sess_a"]["fingerprint"]) == 64
    # normalization stats: the training episodes only (exact, as for any selection)
    train_eps = {r: sorted(set(rows[r]["episodes"]) - set(rows[r]["held_out"])) for r in SAME}
    saved = load_file(
        next((out / "checkpoints/last/pretrained_model").glob("policy_preprocessor_step_*_normalizer*"))
    )
    expected = MultiLeRobotDataset(SAME, root=data_root, episodes=train_eps).stats["action"]["mean"]
    np.testing.assert_allclose(saved["action.mean"].numpy(), expected, rtol=1e-6)
    everything = MultiLeRobotDataset(SAME, root=data_root).stats["action"]["mean"]
    assert not np.allclose(saved["action.mean"].numpy(), everything)
    # wandb (offline) received the keys
    from wandb.proto import wandb_internal_pb2
    from wandb.sdk.internal.datastore import DataStore

    store = DataStore()
    store.open_for_scan(str(next(tmp.rglob("run-*.wandb"))))
    keys = set()
    while (data := store.scan_data()) is not None:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        if record.WhichOneof("record_type") == "history":
            keys |= {item.key or "/".join(item.nested_key) for item in record.history.item}
    assert {"val/lab/sess_a/loss", "val/mean", "shares/lab/sess_c/drawn", "shares/lab/sess_c/target"} <= keys


def test_resume_continues_the_jsonl_and_checks_the_mixture(watched, tmp_path, capsys):
    _, out, _ = watched
    cfg = out / "checkpoints/last/pretrained_model/train_config.json"
    resume = [sys.executable, "-m", "lerobot_multi.scripts.train", f"--config_path={cfg}", "--resume=true"]
    before = read_manifest(out / "checkpoints/last/pretrained_model")
    changed = subprocess.run(
        [*resume, "--steps=8", "--dataset.weights=[1,1,1]"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert changed.returncode != 0 and "lab/sess_a: weight" not in changed.stderr
    assert "lab/sess_c: weight 2.0 -> 1.0" in changed.stderr and "allow_mixture_change" in changed.stderr
    run([*resume, "--steps=8"], cwd=tmp_path)
    records = [json.loads(line) for line in (out / "val_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 6, 8]
    after = read_manifest(out / "checkpoints/last/pretrained_model")
    assert [d["held_out"] for d in after["datasets"]] == [d["held_out"] for d in before["datasets"]]
    log = run(
        [*resume, "--steps=9", "--dataset.weights=[1,1,1]", "--dataset.allow_mixture_change=true"],
        cwd=tmp_path,
    )
    assert "The mixture changed since the checkpoint" in log.stdout + log.stderr
    assert "Mixture sampler resumed" not in log.stdout + log.stderr
    assert read_manifest(out / "checkpoints/last/pretrained_model")["datasets"][2]["weight"] == 1
    assert info.main([f"--manifest={out / 'checkpoints/last/pretrained_model'}"]) == 0
    assert "lab/sess_c" in capsys.readouterr().out


def test_manifest_round_trip_and_differences(tmp_path):
    row = {
        "repo_id": "a",
        "episodes": [0, 1],
        "held_out": [1],
        "weight": 1,
        "revision": None,
        "fingerprint": "x",
    }
    manifest = {"datasets": [row, {**row, "repo_id": "b"}], "options": {"pad_vectors": False}}
    assert read_manifest(write_manifest(tmp_path, manifest)) == manifest
    assert compare(manifest, manifest) == []
    other = {
        "datasets": [{**row, "episodes": [0, 2], "fingerprint": "y"}, {**row, "repo_id": "c"}],
        "options": {"pad_vectors": True},
    }
    assert compare(manifest, other) == [
        "dataset removed: b",
        "dataset added: c",
        "a: episodes removed [1], added [2]",
        "a: metadata files (info.json, meta/episodes, tasks, stats) changed",
        "option pad_vectors: False -> True",
    ]


def test_split_by_task_is_lerobots_rule_within_each_dataset():
    tasks = {"lab/sess_a": ["pick", "place", "pick", "pick"], "lab/sess_b": ["stack", "stack"]}
    held = split_by_task({"lab/sess_a": [0, 1, 2, 3], "lab/sess_b": [0, 1]}, tasks, 0.3)
    # per task, the last ceil(n x 0.3): pick [0, 2, 3] -> [3], place [1] would lose its only episode
    # but another task keeps the dataset trained; stack [0, 1] -> [1]
    assert held == {"lab/sess_a": [1, 3], "lab/sess_b": [1]}
    with pytest.raises(DatasetSourceError, match=r"'lab/sess_b'.*eval_split=0.6 holds out all 2"):
        split_by_task({"lab/sess_b": [0, 1]}, tasks, 0.6)


@pytest.mark.skipif(not LINE.eval_split, reason="dataset.eval_split / eval_steps: lerobot 0.6 line only")
def test_eval_split_is_the_held_out_split_with_per_dataset_losses(data_root, tmp_path):
    out = tmp_path / "run"
    args = [
        f"--dataset.repo_id=[{','.join(SAME)}]",
        f"--dataset.root={data_root}",
        "--dataset.eval_split=0.3",
        "--eval_steps=2",
        "--steps=2",
        f"--output_dir={out}",
    ]
    log = run(train_cmd(*args), cwd=tmp_path)
    assert "eval_loss=" in log.stdout + log.stderr  # lerobot's own held-out loss, on our held-out frames
    manifest = read_manifest(out / "checkpoints/000002/pretrained_model/mixture.json")
    held = {d["repo_id"]: d["held_out"] for d in manifest["datasets"]}
    # sess_a: pick [0, 2] place [1] -> [1, 2]; sess_b: place [0, 2] stack [1, 3] -> [2, 3]; sess_c: [1]
    assert held == {"lab/sess_a": [1, 2], "lab/sess_b": [2, 3], "lab/sess_c": [1]}
    records = [json.loads(line) for line in (out / "val_metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 2 and set(records[-1]["loss"]) == set(SAME)


def test_a_run_without_validation_reports_its_training_loss(tmp_path):
    """The report's top panel: validation loss per dataset when there is validation, else the training
    loss per log window (`mixture_shares.jsonl`), never an empty frame."""
    lines = [
        {"step": 10, "drawn": {"a": 30, "b": 10}, "target": {"a": 0.75, "b": 0.25}, "loss": 2.5},
        {"step": 20, "drawn": {"a": 29, "b": 11}, "target": {"a": 0.75, "b": 0.25}, "loss": 1.25},
    ]
    (tmp_path / "mixture_shares.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert training_loss(lines) == [(10, 2.5), (20, 1.25)]
    assert (
        training_loss([{**lines[0], "loss": None}, {k: v for k, v in lines[1].items() if k != "loss"}]) == []
    )
    assert write_report(tmp_path).stat().st_size > 10_000
