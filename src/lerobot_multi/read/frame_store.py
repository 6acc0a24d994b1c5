"""One dataset's non-video columns over its selected frames, as numpy arrays read with pyarrow.

lerobot formats every row through HF `datasets`' torch transform; here each column is one array, so a
batch of delta windows is one fancy-index per key. Values are stored in the dtype lerobot's samples
have (floats as float32, integers as int64, bools as bool; a feature of shape (1,) as a scalar per
frame), converted once at open. Image (PNG) columns stay encoded and are decoded per sample, as lerobot
does. A store opens on first use, in the process that reads (each DataLoader worker), and is never
pickled: copies of a dataset carry only the file list.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from lerobot_multi import compat
from lerobot_multi.compat import LANGUAGE_DTYPE
from lerobot_multi.meta.sources import DatasetSourceError

logger = logging.getLogger(__name__)


def sample_dtype(dtype: str) -> np.dtype | None:
    """The numpy dtype of lerobot's sample tensors for a feature dtype (None: kept as Python objects)."""
    if dtype.startswith("float"):
        return np.dtype(np.float32)
    if dtype.startswith(("int", "uint")):
        return np.dtype(np.int64)
    if dtype == "bool":
        return np.dtype(bool)
    return None


def sample_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """lerobot stores a (1,) feature as a scalar column: its samples are 0-d."""
    return () if tuple(shape) == (1,) else tuple(shape)


def _decoded(key: str, ft: dict, values: list) -> list:
    """Language rows decoded by HF's own features (their JSON `tool_calls` become objects), as
    `LeRobotDataset` reads them."""
    if ft["dtype"] != LANGUAGE_DTYPE:
        return values
    import datasets

    features = datasets.Features(compat.get_hf_features_from_features({key: ft}))
    return features.decode_column(values, key)


def _column_to_numpy(key: str, column: pa.ChunkedArray, ft: dict, n: int) -> np.ndarray:
    dtype = sample_dtype(ft["dtype"])
    if dtype is None:  # strings and other objects: as HF hands them to lerobot
        out = np.empty(n, dtype=object)
        for k, value in enumerate(_decoded(key, ft, column.to_pylist())):  # numpy would broadcast lists
            out[k] = value
        return out
    values = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    while (
        pa.types.is_list(values.type)
        or pa.types.is_fixed_size_list(values.type)
        or pa.types.is_large_list(values.type)
    ):
        values = pc.list_flatten(values) if not pa.types.is_fixed_size_list(values.type) else values.flatten()
    flat = values.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    return flat.reshape((n, *sample_shape(ft["shape"])))


class EpisodeLengthError(DatasetSourceError):
    """The data's frame count differs from the metadata's; `episode` is the first episode that differs."""

    def __init__(self, message: str, episode: int | None):
        super().__init__(message)
        self.episode = episode


def check_episode_column(repo_id: str, column: np.ndarray, episodes: np.ndarray, lengths: np.ndarray) -> None:
    """A dataset's data must hold meta/episodes' selected `episodes` in order, `lengths` frames each:
    samples take their global episode from the metadata, so a disagreement would mislabel them."""
    expected = np.repeat(episodes, lengths)
    if len(column) != len(expected):
        found = dict(zip(*np.unique(column, return_counts=True)))
        wrong = next((int(e) for e, n in zip(episodes, lengths) if found.get(e, 0) != n), None)
        detail = (
            ""
            if wrong is None
            else (
                f" (episode {wrong}: {found.get(wrong, 0)} frames in data/, "
                f"{int(lengths[list(episodes).index(wrong)])} in the metadata)"
            )
        )
        raise EpisodeLengthError(
            f"dataset {repo_id!r}: data/ holds {len(column)} frames for the selected "
            f"episodes but meta/episodes says {len(expected)}{detail}; the dataset is inconsistent",
            wrong,
        )
    wrong = np.flatnonzero(expected != column)
    if len(wrong):
        frame = int(wrong[0])
        raise DatasetSourceError(
            f"dataset {repo_id!r}: frame {frame} of data/ has episode_index {int(column[frame])} "
            f"but meta/episodes (lengths in order) puts episode {int(expected[frame])} "
            "there; the dataset is inconsistent"
        )


# PIL modes of 16-bit depth images: lerobot 0.6 reads them as float32 in their own units
UINT16_PIL_MODES = {"I;16", "I;16B", "I;16L"}


def decode_image(cell: dict) -> torch.Tensor:
    """An encoded image cell -> (C, H, W) float32, as lerobot's `hf_transform_to_torch`: colour in
    [0, 1], a 16-bit depth map (1, H, W) in its recorded units (`ToTensor` would overflow it)."""
    image, to_tensor = _image_codec()
    decoded = image.decode_example(cell)
    if decoded.mode in UINT16_PIL_MODES:
        return torch.from_numpy(np.array(decoded, dtype=np.float32))[None, ...]
    return to_tensor(decoded)


@functools.cache
def _image_codec():
    """HF's image feature and torchvision's ToTensor, imported on first use (a DataLoader worker of a
    mixture without image features never imports datasets or torchvision)."""
    import datasets
    from torchvision import transforms

    return datasets.Image(), transforms.ToTensor()


class FrameStore:
    """The selected frames of one dataset: `arrays[key]` (numpy, one row per frame, storage order) for
    numeric and string features, `images[key]` (Arrow, encoded) for image features.

    Args:
        repo_id, root: the dataset (for messages and paths).
        files: data files (relative to root) holding the selected episodes, in storage order.
        features: the features to load (non-video), with info.json's specs.
        episodes: the selected source episode ids to keep from the files (None = every row).
        expected_episodes, expected_lengths: the selected episodes and their frame counts in storage
            order, from meta/episodes; the data's episode_index column must follow them exactly.
        declared: every non-video feature info.json declares: each file must hold them all.
        file_of: episode id -> its data file (names the file when frame counts disagree).
    """

    def __init__(
        self,
        repo_id: str,
        root: Path,
        files: Sequence[str],
        features: dict[str, dict],
        episodes: np.ndarray | None,
        expected_episodes: np.ndarray,
        expected_lengths: np.ndarray,
        declared: Sequence[str] = (),
        file_of: Callable[[int], object] | None = None,
    ):
        self.repo_id, self.root, self.files = repo_id, Path(root), list(files)
        self.declared = list(declared) or [k for k, ft in features.items() if ft["dtype"] != "video"]
        self.features = {k: ft for k, ft in features.items() if ft["dtype"] != "video"}
        self.episodes = episodes
        self.expected = (expected_episodes, expected_lengths)
        self.file_of = file_of  # episode -> its data file, for messages
        self.arrays: dict[str, np.ndarray] = {}
        self.images: dict[str, pa.Array] = {}
        self.is_open = False

    def __getstate__(self) -> dict:
        return {**self.__dict__, "arrays": {}, "images": {}, "is_open": False}

    def open(self) -> FrameStore:
        if self.is_open:
            return self
        table = self._read()
        n = table.num_rows
        for key, ft in self.features.items():
            if ft["dtype"] == "image":
                self.images[key] = table.column(key).combine_chunks()
            else:
                try:
                    self.arrays[key] = _column_to_numpy(key, table.column(key), ft, n)
                except (ValueError, pa.ArrowException) as e:
                    raise DatasetSourceError(
                        f"dataset {self.repo_id!r}: column {key!r} of data/ does not match meta/info.json "
                        f"(dtype {ft['dtype']}, shape {tuple(ft['shape'])}): {e}"
                    ) from e
        self._check_episodes()
        self.is_open = True
        return self

    def _read(self) -> pa.Table:
        tables = []
        for rel in self.files:
            path = self.root / rel
            try:
                parquet = pq.ParquetFile(path, memory_map=True)
                missing = [k for k in self.declared if k not in parquet.schema_arrow.names]
                table = None if missing else parquet.read(columns=list(self.features))
            except Exception as e:
                raise DatasetSourceError(f"dataset {self.repo_id!r}: cannot read {path}: {e}") from e
            if missing:
                raise DatasetSourceError(
                    f"dataset {self.repo_id!r}: meta/info.json declares features {missing} that {rel} does not hold"
                )
            if self.episodes is not None:
                keep = pc.is_in(table.column("episode_index"), value_set=pa.array(self.episodes, pa.int64()))
                table = table.filter(keep)
            tables.append(table)
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def _check_episodes(self) -> None:
        try:
            check_episode_column(self.repo_id, self.arrays["episode_index"], *self.expected)
        except EpisodeLengthError as e:
            if e.episode is None or self.file_of is None:
                raise
            raise DatasetSourceError(f"{e} (file {self.file_of(e.episode)})") from e

    def image(self, key: str, positions: np.ndarray) -> torch.Tensor:
        """Decoded images at `positions` (any shape), stacked to (*positions.shape, C, H, W)."""
        cells = self.images[key]
        frames = [decode_image(cells[int(p)].as_py()) for p in positions.reshape(-1)]
        return torch.stack(frames).reshape(*positions.shape, *frames[0].shape)
