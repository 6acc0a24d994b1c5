"""`MultiLeRobotDataset.hf_dataset`: the mixture's frames as one HF `datasets.Dataset`, in memory.

lerobot's tools that read `dataset.hf_dataset` row by row (the FAST tokenizer script, merge helpers)
get the mixture's rows in its own order: row i is frame i of the mixture, with global `index`,
`episode_index`, `task_index` (and `subtask_index`), renamed and zero-padded features as in samples,
plus `dataset_index`. Only non-visual features: video frames are not table columns in lerobot either,
and image columns would copy every PNG. The columns come from the frame stores (the fast reader's own
path), so building it reads each dataset's parquet once and writes nothing to disk.
"""

from __future__ import annotations

import datasets
import numpy as np
import pyarrow as pa
from datasets.fingerprint import generate_random_fingerprint
from datasets.table import InMemoryTable

from lerobot_multi.compat import LANGUAGE_DTYPE, get_hf_features_from_features, hf_transform_to_torch
from lerobot_multi.read.fast_reader import BatchAssembler

_BLOCK = 1 << 16  # frames per assembly call: bounds the temporary index arrays


def _arrow(values: np.ndarray) -> pa.Array:
    if values.ndim == 1:
        return pa.array(values)
    inner = _arrow(values.reshape(-1, *values.shape[2:]))
    return pa.FixedSizeListArray.from_arrays(inner, values.shape[1])


def _column(key: str, hf_features: datasets.Features, blocks: list[dict], language: bool) -> pa.Array:
    if language:  # decoded rows (JSON tool calls as objects) back to HF's storage
        return pa.array([v for b in blocks for v in hf_features.encode_column(b[key].tolist(), key)])
    return pa.concat_arrays([_arrow(np.asarray(b[key])) for b in blocks])


def build_hf_table(meta, tolerance_s: float, video_backend: str) -> datasets.Dataset:
    """The non-visual columns of every frame of a mixture (`MultiDatasetMetadata`), lerobot-formatted."""
    features = {k: ft for k, ft in meta.features.items() if ft["dtype"] not in ("video", "image")}
    assembler = BatchAssembler(meta, tolerance_s, video_backend)
    assembler.keep_only(features)
    total = int(meta.frame_offsets[-1])
    blocks = [assembler.columns(range(a, min(a + _BLOCK, total))) for a in range(0, total, _BLOCK)]
    hf_features = get_hf_features_from_features(features)
    hf_features["dataset_index"] = datasets.Value("int64")
    language = {k for k, ft in features.items() if ft["dtype"] == LANGUAGE_DTYPE}
    columns = {key: _column(key, hf_features, blocks, key in language) for key in hf_features}
    table = pa.table(columns).cast(hf_features.arrow_schema)
    ds = datasets.Dataset(
        InMemoryTable(table),
        info=datasets.DatasetInfo(features=hf_features),
        fingerprint=generate_random_fingerprint(),  # hashing the table would cost seconds at scale
    )
    ds.set_transform(hf_transform_to_torch)
    return ds
