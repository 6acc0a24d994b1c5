"""lerobot-multi-info's rough edges: --plot without matplotlib, the robot-type warning under per-robot
normalization, alignment with long names, padded dimensions in the plot."""

from __future__ import annotations

import logging
import sys

from conftest import SAME

from lerobot_multi.inspect.info_table import format_report, mixture_report, open_metadata
from lerobot_multi.inspect.plot import dimension_name, plot_mixture
from lerobot_multi.scripts import info


def test_plot_without_matplotlib_is_one_line_and_status_2(data_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    args = [
        f"--dataset.repo_id=[{','.join(SAME)}]",
        f"--dataset.root={data_root}",
        f"--plot={tmp_path}/x.png",
    ]
    assert info.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --plot needs matplotlib: pip install 'lerobot-multi[plot]'"]


def test_robot_type_warning_only_when_robots_share_a_normalization(data_root, caplog):
    args = ["--dataset.repo_id=[lab/arm_small,lab/arm_big]", f"--dataset.root={data_root}"]
    with caplog.at_level(logging.WARNING):
        assert info.main([*args, "--dataset.normalization_mode=per_robot"]) == 0
    assert "share one normalization" not in caplog.text
    with caplog.at_level(logging.WARNING):
        assert info.main(args) == 0
    assert "share one normalization" in caplog.text


def test_table_stays_aligned_with_long_names(data_root):
    report = mixture_report(open_metadata(SAME, data_root))
    report["datasets"][0]["robot_type"] = "lingzu_highcam_pi05"
    report["datasets"][1]["repo_id"] = "a-lab-with-a-long-name/pick_place_session_2026_11_28_afternoon"
    lines = format_report(report).splitlines()[: 2 + len(SAME)]
    assert len({len(line) for line in lines}) == 1  # header, rule and rows: one width
    fps_end = lines[0].index("fps") + 3
    assert all(line[fps_end - 2 : fps_end] == "30" for line in lines[2:])


def test_plot_draws_padded_dimensions_as_absent_with_each_datasets_names(data_root, tmp_path):
    meta = open_metadata(["lab/sess_a", "lab/wide"], data_root, pad_vectors=True)
    assert dimension_name(meta, 0, "action", 0) == "a0" and dimension_name(meta, 1, "action", 0) == "a0"
    assert dimension_name(meta, 0, "action", 7) is None  # padding for the 6-dof arm
    assert dimension_name(meta, 1, "action", 13) == "a13"
    png = plot_mixture(meta, [0.5, 0.5], tmp_path / "pad.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
