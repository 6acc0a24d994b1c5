"""lerobot-multi-train end to end: lerobot's loop on several datasets, resume, reload, accelerate."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import LAUNCH_2, TINY_ACT, run, train_cmd

from lerobot_multi.compat import LINE


def guide_yaml(tmp_path: Path, data_root: Path) -> Path:
    # The guide's "Filtering Episodes Per Dataset" example; only names and the root differ.
    path = tmp_path / "multi.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            dataset:
              repo_id:
                - "lab/sess_a"
                - "lab/sess_b"
              episodes:
                "lab/sess_a": [0, 1]  # Use only first 2 episodes
                "lab/sess_b": null  # Use all episodes
              root: "{data_root}"
              use_imagenet_stats: true
            """
        )
    )
    return path


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    out = tmp / "run"
    proc = run(
        train_cmd(
            f"--config_path={guide_yaml(tmp, data_root)}",
            "--steps=3",
            "--save_freq=2",
            "--num_workers=0",
            f"--output_dir={out}",
        ),
        cwd=tmp,
    )
    return out, proc.stdout + proc.stderr


def test_trains_from_guide_yaml(trained):
    out, log = trained
    assert "'lab/sess_a': 0" in log and "'lab/sess_b': 1" in log  # the repo_id -> dataset_index map
    assert "dataset.num_episodes=6" in log
    assert (out / "checkpoints/000002/pretrained_model/model.safetensors").exists()
    assert (out / "checkpoints/last").resolve().name == "000003"
    saved = json.loads((out / "checkpoints/last/pretrained_model/train_config.json").read_text())
    assert saved["dataset"]["repo_id"] == ["lab/sess_a", "lab/sess_b"]
    assert saved["dataset"]["episodes"] == {"lab/sess_a": [0, 1], "lab/sess_b": None}


@pytest.mark.slow  # end-to-end; `make test-slow`
def test_resume_continues_from_last_checkpoint(trained, tmp_path):
    out, _ = trained
    cfg = out / "checkpoints/last/pretrained_model/train_config.json"
    proc = run(
        [
            sys.executable,
            "-m",
            "lerobot_multi.scripts.train",
            f"--config_path={cfg}",
            "--resume=true",
            "--steps=5",
        ],
        cwd=tmp_path,
    )
    log = proc.stdout + proc.stderr
    assert "step:4 " in log and "step:1 " not in log
    assert (out / "checkpoints/000005").is_dir()


def test_checkpoint_loads_with_stock_lerobot_in_fresh_process(trained, tmp_path):
    out, _ = trained
    code = textwrap.dedent(
        f"""
        import torch
        from lerobot.policies.act.modeling_act import ACTPolicy
        from lerobot.policies.factory import make_pre_post_processors
        d = "{out}/checkpoints/last/pretrained_model"
        policy = ACTPolicy.from_pretrained(d)
        pre, post = make_pre_post_processors(policy.config, pretrained_path=d)
        obs = {{"observation.state": torch.zeros(1, 6), "observation.images.top": torch.rand(1, 3, 64, 64)}}
        action = post(policy.select_action(pre(obs)))
        assert action.shape == (1, 6) and torch.isfinite(action).all(), action
        print("ACTION_OK", action.shape)
        """
    )
    assert "ACTION_OK" in run([sys.executable, "-c", code], cwd=tmp_path).stdout


def test_single_string_repo_id_is_plain_lerobot(data_root, tmp_path):
    out = tmp_path / "single"
    proc = run(
        train_cmd(
            "--dataset.repo_id=lab/sess_c",
            f"--dataset.root={data_root / 'lab/sess_c'}",
            "--steps=2",
            "--num_workers=1",
            f"--output_dir={out}",
        ),
        cwd=tmp_path,
    )
    log = proc.stdout + proc.stderr
    assert "Multiple datasets" not in log and "dataset.num_episodes=2" in log
    ckpt = out / "checkpoints/last/pretrained_model"
    # lerobot's own run: a string repo_id saved as such, no mixture manifest, lerobot's normalizer
    assert json.loads((ckpt / "train_config.json").read_text())["dataset"]["repo_id"] == "lab/sess_c"
    assert not (ckpt / "mixture.json").exists()
    steps = json.loads((ckpt / "policy_preprocessor.json").read_text())["steps"]
    assert "normalizer_processor" in [step.get("registry_name") for step in steps]
    assert not any("lerobot_multi" in json.dumps(step) for step in steps)


def test_two_process_accelerate_run(data_root, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        *LAUNCH_2,
        *TINY_ACT,
        "--dataset.repo_id=[lab/sess_a,lab/sess_c]",
        f"--dataset.root={data_root}",
        # validation and per-dataset normalization under 2 processes (tests/test_watch.py has the rest)
        "--dataset.val_episodes=1",
        "--dataset.normalization_mode=per_dataset",
        "--dataset.episode_checks=[short,non_finite]",
        "--steps=2",
        "--num_workers=0",
        f"--output_dir={out}",
    ]
    log = run(cmd, cwd=tmp_path, timeout=3600)
    text = log.stdout + log.stderr
    # 0.4.4/0.6.1: "4 x 2 = 8"; lerobot main: "4 x 2 dp workers x 1 grad accum = 8"
    assert re.search(r"Effective batch size: 4 x 2 (dp workers x 1 grad accum )?= 8", text), text[-3000:]
    manifest = json.loads((out / "checkpoints/last/pretrained_model/mixture.json").read_text())
    rows = {d["repo_id"]: d for d in manifest["datasets"]}
    assert list(rows) == ["lab/sess_a", "lab/sess_c"]
    assert all(len(d["held_out"]) == 1 for d in rows.values())  # val_episodes=1 in each dataset
    assert {d["normalization_group"] for d in rows.values()} == {"lab/sess_a", "lab/sess_c"}
    # the held-out split, training and validation mixtures share one open and one check per dataset
    assert "Dataset metadata read 2 times, episodes checked 2 times" in text, text[-3000:]  # rank 0 logs
    records = (out / "val_metrics.jsonl").read_text().splitlines()  # once, not once per rank
    assert len(records) == 1 and json.loads(records[0])["step"] == 2
    shares = [json.loads(line) for line in (out / "mixture_shares.jsonl").read_text().splitlines()]
    assert sum(shares[0]["drawn"].values()) == 4 * 2  # log_freq 1: one step of both processes


def _two_process_stream(data_root, tmp_path):
    out = tmp_path / "ddp_stream"
    launch = LAUNCH_2
    args = [
        *TINY_ACT,
        "--dataset.repo_id=[lab/sess_a,lab/sess_c]",
        f"--dataset.root={data_root}",
        "--dataset.streaming=true",
        "--steps=2",
        "--num_workers=1",
        f"--output_dir={out}",
    ]
    run([*launch, *args], cwd=tmp_path, timeout=3600)
    state = json.loads((out / "checkpoints/000002/training_state/mixture_stream.json").read_text())
    assert state["position_in_stream"] == 2 * 4 * 2
    return launch, out


def test_two_process_accelerate_streaming_run(data_root, tmp_path):
    # accelerate would dispatch process 0's batches (and fail on task strings); each rank streams its
    # share (disjointness and per-rank resume: tests/test_streaming.py::test_each_rank_resumes_its_own_share)
    _two_process_stream(data_root, tmp_path)


@pytest.mark.slow
def test_two_process_accelerate_streaming_resume(data_root, tmp_path):
    launch, out = _two_process_stream(data_root, tmp_path)
    cfg = out / "checkpoints/last/pretrained_model/train_config.json"
    log = run([*launch, f"--config_path={cfg}", "--resume=true", "--steps=3"], cwd=tmp_path, timeout=3600)
    assert "Stream resumed after 16 samples" in log.stdout + log.stderr
    assert (out / "checkpoints/000003/pretrained_model/model.safetensors").exists()


@pytest.mark.slow  # end-to-end; `make test-slow`
def test_weighted_mixture_trains_and_resumes_the_stream(data_root, tmp_path):
    out = tmp_path / "weighted"
    args = [
        f"--dataset.repo_id=[{','.join(['lab/sess_a', 'lab/sess_c'])}]",
        f"--dataset.root={data_root}",
        "--dataset.weights=[1,3]",
    ]
    run(
        train_cmd(*args, "--steps=3", "--save_freq=2", "--num_workers=2", f"--output_dir={out}"), cwd=tmp_path
    )
    state = json.loads((out / "checkpoints/000002/training_state/mixture_sampler.json").read_text())
    assert state["position"] == 2 * 4 and state["shares"] == [0.25, 0.75] and state["seed"] == 1000
    assert (
        json.loads((out / "checkpoints/000003/training_state/mixture_sampler.json").read_text())["position"]
        == 12
    )
    saved = json.loads((out / "checkpoints/last/pretrained_model/train_config.json").read_text())
    assert saved["dataset"]["weights"] == [1, 3]
    # ACT declares no drop_n_last_frames: the run must not leak the temporary attribute into its config
    assert "drop_n_last_frames" not in json.loads(
        (out / "checkpoints/last/pretrained_model/config.json").read_text()
    )
    cfg = out / "checkpoints/last/pretrained_model/train_config.json"
    log = run(
        [
            sys.executable,
            "-m",
            "lerobot_multi.scripts.train",
            f"--config_path={cfg}",
            "--resume=true",
            "--steps=4",
        ],
        cwd=tmp_path,
    )
    assert "Mixture sampler resumed at stream position 12" in log.stdout + log.stderr
    assert (
        json.loads((out / "checkpoints/000004/training_state/mixture_sampler.json").read_text())["position"]
        == 16
    )


@pytest.mark.skipif(
    "accelerator" not in LINE.train_config_fields, reason="--accelerator.*, --ema.*: lerobot main"
)
def test_lerobot_main_flags_reach_its_loop(data_root, tmp_path):
    """lerobot main's `--accelerator.*`, `--parallelism.*` and `--ema.*` configure its loop as in
    lerobot-train; `exclude_episodes` per dataset; the run resumes with its EMA shadow, and the EMA
    weights load with stock lerobot."""
    out = tmp_path / "main_flags"
    flags = [
        "--accelerator.gradient_accumulation.steps=2",
        "--parallelism.dp_replicate=1",
        "--ema.enable=true",
    ]
    args = ["--dataset.repo_id=[lab/sess_a,lab/sess_c]", f"--dataset.root={data_root}"]
    args += ["--dataset.exclude_episodes={lab/sess_a: [0, 2]}", "--num_workers=0", f"--output_dir={out}"]
    log = run(train_cmd(*args, *flags, "--steps=2", "--save_freq=2"), cwd=tmp_path)
    text = log.stdout + log.stderr
    assert "x 2 grad accum = 8" in text  # micro-batches of 4, two per update
    ckpt = out / "checkpoints/last"
    saved = json.loads((ckpt / "pretrained_model/train_config.json").read_text())
    assert saved["accelerator"]["gradient_accumulation"]["steps"] == 2 and saved["ema"]["enable"]
    assert saved["dataset"]["exclude_episodes"] == {"lab/sess_a": [0, 2]}
    rows = json.loads((ckpt / "pretrained_model/mixture.json").read_text())["datasets"]
    assert [r["episodes"] for r in rows] == [[1], [0, 1]], rows
    assert (ckpt / "training_state/ema_state.pt").is_file()
    cfg = ckpt / "pretrained_model/train_config.json"
    resumed = run(train_cmd(f"--config_path={cfg}", "--resume=true", "--steps=3"), cwd=tmp_path)
    assert "step:3 " in resumed.stdout + resumed.stderr and "step:1 " not in resumed.stdout + resumed.stderr
    code = (
        "import torch\n"
        "from lerobot.policies.act.modeling_act import ACTPolicy\n"
        f"policy = ACTPolicy.from_pretrained('{out}/checkpoints/000003/pretrained_model_ema')\n"
        "print('EMA_OK', sum(p.numel() for p in policy.parameters()))\n"
    )
    assert "EMA_OK" in run([sys.executable, "-c", code], cwd=tmp_path).stdout
