"""`lerobot-multi-info --plot`: per-dataset ranges of each action/state dimension, and sample shares.

Drawn from each dataset's stored statistics (min, q01..q99, max, mean±std), so no frame is read. A
user sees at a glance whether datasets share ranges or need per-robot normalization. Needs matplotlib
(the `plot` extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lerobot_multi.meta.metadata import MultiDatasetMetadata


def vector_keys(meta: MultiDatasetMetadata) -> list[str]:
    return [
        k
        for k, ft in meta.features.items()
        if ft["dtype"] in ("float32", "float64")
        and len(ft["shape"]) == 1
        and (k == "action" or k.startswith("observation."))
    ]


def dimension_name(meta: MultiDatasetMetadata, i: int, key: str, dim: int) -> str | None:
    """Dataset i's own name of dimension `dim` of `key` (its index when unnamed), or None when the
    dimension is padding for that dataset."""
    size = meta.schema.padded.get(key, {}).get(meta.repo_ids[i])
    if size is not None and dim >= size:
        return None
    names = meta.sub_metas[i].features.get(meta.source_key(i, key), {}).get("names")
    if isinstance(names, dict):  # lerobot's {"motors": [...]} form
        names = next(iter(names.values()), None)
    return str(names[dim]) if isinstance(names, list) and dim < len(names) else str(dim)


def plot_mixture(meta: MultiDatasetMetadata, shares: np.ndarray, path: str | Path) -> Path:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
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
        labels = []
        for i, st in enumerate(meta.per_dataset_stats):
            own = dimension_name(meta, i, key, dim)
            labels.append(f"{i}: {own}" if own is not None else f"{i}: -")
            if own is None:  # a padded dimension this dataset does not have: drawn as absent
                continue
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
        ax.set_yticks(range(n_ds), labels, fontsize=7)  # each dataset's own name for the dimension
        ax.invert_yaxis()
        ax.set_title(f"{key}[{dim}]", fontsize=8)
    for j in range(len(rows), (nrows - 1) * ncols):
        axes[1 + j // ncols, j % ncols].axis("off")
    fig.suptitle("per dataset: min-max (thin), q01-q99 (medium), mean±std (thick)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
