"""lerobot's meta/episodes table for a mixture: every column lerobot's own table has, globally indexed.

Built on first access to `meta.episodes` (reading the per-episode `stats/*` columns is the costly part,
and training needs the table only for lerobot's `EpisodeAwareSampler`). One row per selected episode,
in the mixture's order:

- global: `episode_index`, `dataset_from_index` / `dataset_to_index` (frames of the concatenation),
  `tasks`, `length`, plus `dataset_index` and `source_episode_index` (the dataset's own id);
- each dataset's own: `data/chunk_index`, `data/file_index`, `meta/episodes/chunk_index`,
  `meta/episodes/file_index` (file locations inside that dataset, whose folder is
  `meta.sources[dataset_index].root`), `videos/<key>/{chunk_index,file_index,from_timestamp,
  to_timestamp}` and `stats/<key>/<stat>` under the mixture's (renamed) keys; null where a dataset
  lacks the key (a filled camera). Disabled features' columns are left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import datasets

_GLOBAL = ("episode_index", "dataset_from_index", "dataset_to_index", "tasks", "length")


def _own_columns(meta, i: int) -> pa.Table:
    """Dataset i's selected rows of meta/episodes, stats included, under the mixture's key names."""
    sub = meta.sub_metas[i]
    rows = pa.array(meta.frame_episodes(i)[0])
    kept = {meta.source_key(i, k): k for k in meta.features}  # source name -> mixture name
    stats_table = sub.episode_stats()
    columns: dict[str, pa.ChunkedArray] = {}
    for table in (sub.episodes, stats_table):
        for name in [] if table is None else table.column_names:
            new = name
            if name in _GLOBAL:
                continue
            if name.startswith(("videos/", "stats/")):
                head, key, tail = name.split("/", 2)
                if key not in kept:  # a disabled feature
                    continue
                new = f"{head}/{kept[key]}/{tail}"
            columns[new] = table.column(name).take(rows)
    return pa.table(columns)


def build_episodes_table(meta) -> datasets.Dataset:
    """The mixture's meta/episodes as an HF `datasets.Dataset`, lerobot's columns first."""
    own = pa.concat_tables(
        [_own_columns(meta, i) for i in range(len(meta.sources))], promote_options="permissive"
    )
    lengths = meta.episode_lengths
    tasks = pa.chunked_array([t.column("tasks").cast(pa.list_(pa.string())) for t in meta.episode_tasks])
    table = pa.table(
        {
            "episode_index": np.arange(len(lengths), dtype=np.int64),
            "tasks": tasks.combine_chunks(),
            "length": lengths,
            "dataset_from_index": meta.episode_starts,
            "dataset_to_index": meta.episode_starts + lengths,
            "dataset_index": meta.episode_datasets,
            "source_episode_index": meta.source_episode_ids,
        }
    )
    for name in own.column_names:
        table = table.append_column(name, own.column(name))
    import datasets  # on use: DataLoader workers never build it
    from datasets.fingerprint import generate_random_fingerprint
    from datasets.table import InMemoryTable

    # a random fingerprint, as `Dataset.from_dict` uses: hashing the table costs seconds at scale
    return datasets.Dataset(InMemoryTable(table), fingerprint=generate_random_fingerprint())
