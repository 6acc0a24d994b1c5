"""lerobot-multi-demo end to end at the tiny setting: data -> mixture report -> training -> success rates."""

from __future__ import annotations

import json
import os

os.environ.setdefault("MUJOCO_GL", "egl")


def test_demo_tiny_runs_end_to_end(tmp_path, capsys):
    from lerobot_multi.scripts import demo

    args = ["--setting", "tiny", "--workdir", str(tmp_path), "--tasks", "reach-v3", "push-v3"]
    assert demo.main([*args, "--compare", "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "local/metaworld_reach-v3" in out and "samples%" in out  # the mixture report
    assert "success rate on 1 held-out placements per task" in out
    table = out.split("success rate")[1]
    assert "reach-v3" in table and "checkpoint:" in out
    header = table.splitlines()[1].split()
    assert header[:3] == ["task", "dataset", "alone"] and header[-1] == "untrained"
    # each dataset alone, the plain mixture and the conditioned one; side by side, logs in files
    ckpts = list(tmp_path.glob("runs/*/checkpoints/last/pretrained_model/model.safetensors"))
    assert len(ckpts) == 4
    assert len(list(tmp_path.glob("runs/*.log"))) == 4
    # the inference settings travel in the checkpoint, so lerobot-eval acts the same way
    config = json.loads((ckpts[0].parent / "config.json").read_text())
    assert config["temporal_ensemble_coeff"] == 0.01 and config["n_action_steps"] == 1
    assert config["use_vae"] is False
    # a second run reuses the cached datasets
    assert len(list((tmp_path / "data").iterdir())) == 1
    # the main job shows per-dataset validation: a held-out episode per task, its loss per dataset
    metrics = [p.read_text().splitlines() for p in tmp_path.glob("runs/*/val_metrics.jsonl")]
    assert len(metrics) == 4
    losses = [set(json.loads(lines[-1])["loss"]) for lines in metrics]
    assert {"local/metaworld_reach-v3", "local/metaworld_push-v3"} in losses
