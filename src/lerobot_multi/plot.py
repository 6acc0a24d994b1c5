"""`lerobot-multi-info --plot`: per-dataset ranges of each action/state dimension, and sample shares.

Drawn from each dataset's stored statistics (min, q01..q99, max, mean±std), so no frame is read. A
user sees at a glance whether datasets share ranges or need per-robot normalization. Needs matplotlib
(the `plot` extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lerobot_multi.metadata import MultiDatasetMetadata


def vector_keys(meta: MultiDatasetMetadata) -> list[str]:
    return [
        k
        for k, ft in meta.features.items()
        if ft["dtype"] in ("float32", "float64")
        and len(ft["shape"]) == 1
        and (k == "action" or k.startswith("observation."))
    ]


def plot_mixture(meta: MultiDatasetMetadata, shares: np.ndarray, path: str | Path) -> Path:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("--plot needs matplotlib: pip install 'lerobot-multi[plot]'") from e

    keys = vector_keys(meta)
    n_ds = len(meta.repo_ids)
    rows = [(k, d) for k in keys for d in range(meta.features[k]["shape"][0])]
    ncols = 4
    nrows = 1 + -(-len(rows) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 2.6 * nrows), squeeze=False)
    colors = plt.get_cmap("tab10")(np.arange(n_ds) % 10)
    ax = axes[0, 0]
    ax.barh(range(n_ds), shares, color=colors)
    ax.set_yticks(range(n_ds), [f"{i}: {r}" for i, r in enumerate(meta.repo_ids)], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("share of samples")
    ax.set_title("mixture")
    for a in axes[0, 1:]:
        a.axis("off")
    for j, (key, dim) in enumerate(rows):
        ax = axes[1 + j // ncols, j % ncols]
        names = meta.features[key].get("names")
        label = names[dim] if isinstance(names, list) and dim < len(names) else str(dim)
        for i, st in enumerate(meta.per_dataset_stats):
            s = {k: np.asarray(v).reshape(-1) for k, v in st[key].items()}
            ax.plot([s["min"][dim], s["max"][dim]], [i, i], color=colors[i], lw=1)
            if "q01" in s and "q99" in s:
                ax.plot([s["q01"][dim], s["q99"][dim]], [i, i], color=colors[i], lw=4, alpha=0.5)
            ax.plot(
                [s["mean"][dim] - s["std"][dim], s["mean"][dim] + s["std"][dim]],
                [i, i],
                color=colors[i],
                lw=7,
            )
            ax.plot(s["mean"][dim], i, "k|", ms=10)
        ax.set_yticks(range(n_ds), [str(i) for i in range(n_ds)], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"{key}[{label}]", fontsize=8)
    for j in range(len(rows), (nrows - 1) * ncols):
        axes[1 + j // ncols, j % ncols].axis("off")
    fig.suptitle("per dataset: min-max (thin), q01-q99 (medium), mean±std (thick)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
