"""The training report: one PNG of a lerobot-multi-train output dir.

Three panels: the validation loss per dataset over steps (`val_metrics.jsonl`; without validation, the
training loss per log window from `mixture_shares.jsonl`), the samples drawn per dataset against the
target shares (`mixture_shares.jsonl`, summed over the run), and the mixture table
of the last checkpoint's `mixture.json`. Written at the end of training when matplotlib is installed,
and by `lerobot-multi-report OUTPUT_DIR`.
"""

from __future__ import annotations

import json
from pathlib import Path

from lerobot_multi.train.manifest import MANIFEST_FILE, read_manifest
from lerobot_multi.train.validation import read_metrics

REPORT_FILE = "training_report.png"


def _share_records(output_dir: Path) -> list[dict]:
    from lerobot_multi.train.watch import SHARES_FILE

    path = output_dir / SHARES_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _shares(records: list[dict]) -> tuple[list[str], list[int], list[float]]:
    drawn: dict[str, int] = {}
    target: dict[str, float] = {}
    for record in records:
        for repo_id, n in record["drawn"].items():
            drawn[repo_id] = drawn.get(repo_id, 0) + n
        target = record["target"]
    names = list(target)
    return names, [drawn[r] for r in names], [target[r] for r in names]


def write_report(output_dir: str | Path, path: str | Path | None = None) -> Path:
    """Draw the report of `output_dir` into `path` (default OUTPUT_DIR/training_report.png)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output_dir = Path(output_dir)
    manifest_path = output_dir / "checkpoints" / "last" / "pretrained_model" / MANIFEST_FILE
    fig, axes = plt.subplots(3, 1, figsize=(10, 12), gridspec_kw={"height_ratios": [3, 2, 1.4]})
    records, validation = _share_records(output_dir), read_metrics(output_dir)
    if validation:
        _draw_losses(axes[0], validation)
    else:
        _draw_training_loss(axes[0], records)
    _draw_shares(axes[1], *_shares(records))
    _draw_mixture(axes[2], read_manifest(manifest_path) if manifest_path.exists() else None)
    fig.tight_layout()
    path = Path(path) if path is not None else output_dir / REPORT_FILE
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _draw_losses(ax, records: list[dict]) -> None:
    repo_ids = list(dict.fromkeys(r for rec in records for r in rec["loss"]))
    for repo_id in repo_ids:
        points = [(rec["step"], rec["loss"][repo_id]) for rec in records if repo_id in rec["loss"]]
        ax.plot(*zip(*points), marker="o", label=repo_id)
    ax.plot([r["step"] for r in records], [r["mean"] for r in records], "k--", label="mean")
    ax.legend(fontsize=8)
    ax.set(title="validation loss per dataset (held-out episodes)", xlabel="step", ylabel="loss")


def training_loss(records: list[dict]) -> list[tuple[int, float]]:
    """(step, mean training loss of the log window ending there) of `mixture_shares.jsonl`'s records
    (runs from before the loss was recorded have none)."""
    return [(r["step"], r["loss"]) for r in records if r.get("loss") is not None]


def _draw_training_loss(ax, records: list[dict]) -> None:
    points = training_loss(records)
    if points:
        ax.plot(*zip(*points), marker="o", color="k", label="training loss (mean per log window)")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no loss logged yet", ha="center", transform=ax.transAxes)
    ax.set(
        title="training loss (no validation: set dataset.val_episodes for per-dataset held-out loss)",
        xlabel="step",
        ylabel="loss",
    )


def _draw_shares(ax, names: list[str], drawn: list[int], target: list[float]) -> None:
    total = max(sum(drawn), 1)
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [n / total for n in drawn], width=0.4, label=f"drawn ({total} samples)")
    ax.bar([i + 0.2 for i in x], target, width=0.4, label="target")
    ax.set_xticks(list(x), names, rotation=15, fontsize=8)
    ax.set(title="samples drawn per dataset vs target share", ylabel="share")
    ax.legend(fontsize=8)


def _draw_mixture(ax, manifest: dict | None) -> None:
    ax.axis("off")
    if manifest is not None:
        columns = ["repo_id", "robot", "fps", "episodes", "held-out", "frames", "share", "group"]
        cells = [
            [
                d["repo_id"],
                str(d["robot_type"]),
                str(d["fps"]),
                str(len(d["episodes"])),
                str(len(d["held_out"])),
                str(d["frames"]),
                f"{d['share']:.1%}",
                str(d["normalization_group"]),
            ]
            for d in manifest["datasets"]
        ]
        table = ax.table(cellText=cells, colLabels=columns, loc="center")
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.scale(1, 1.6)
        table.auto_set_column_width(list(range(len(columns))))
    ax.set_title("mixture (checkpoints/last/pretrained_model/mixture.json)")
