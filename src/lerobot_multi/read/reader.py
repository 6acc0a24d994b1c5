"""The interface every sample reader of a map-style mixture implements (the fast one and lerobot's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lerobot_multi.meta.source_meta import selected_episodes
from lerobot_multi.read.schema_step import SchemaStep, transforms_of_step


class SampleReader:
    """Samples of a mixture for global frame indices. `MultiLeRobotDataset` holds one and asks nothing
    else of it: windows are set per dataset, batches are read by index."""

    step: SchemaStep  # every reader's last step; it holds the image transforms
    image_transforms = transforms_of_step
    # lerobot 0.6's tools (the FAST tokenizer) read `dataset.reader._absolute_to_relative_idx`: the
    # mixture's rows are its global indices, so there is no map
    _absolute_to_relative_idx = None

    def set_windows(
        self,
        indices: Sequence[Mapping[str, list[int]] | None],
        timestamps: Sequence[Mapping[str, list[float]] | None],
    ) -> None:
        """Each dataset's window offsets, in its own frames and in seconds, keyed by the mixture's names."""
        raise NotImplementedError

    def read(self, indices: Sequence[int], int_scalars: bool = False) -> list[dict]:
        """The samples of global frame `indices` (`int_scalars`: scalar fields may be Python ints, which
        `default_collate` batches as it batches 0-d tensors)."""
        raise NotImplementedError

    # --- lerobot 0.6's `DatasetReader` names, for code that reads `dataset.reader` -----------------
    @property
    def num_frames(self) -> int:
        """Frames of the selected episodes (the mixture's)."""
        return self.step.meta.total_frames

    @property
    def num_episodes(self) -> int:
        """Selected episodes (the mixture's)."""
        return self.step.meta.total_episodes

    def get_item(self, idx: int) -> dict:
        """Frame `idx` of the mixture (its global index), as `dataset[idx]`."""
        return self.read([int(idx)])[0]

    def get_episodes_file_paths(self) -> list[str]:
        """The data and video files the mixture reads (selected episodes, kept cameras), each once;
        absolute, since each dataset's files are in its own folder."""
        meta, paths = self.step.meta, []
        for i, (source, sub) in enumerate(zip(meta.sources, meta.sub_metas)):
            kept = {meta.source_key(i, k) for k in meta.video_keys}
            keys = [k for k in sub.video_keys if k in kept] if sub.video_path else []
            paths += [
                str(source.root / rel)
                for rel in sub.format.files_for(sub, selected_episodes(source, sub), keys)
            ]
        return paths

    @property
    def datasets(self):
        """lerobot's `LeRobotDataset` per source, where the reader opens them."""
        raise AttributeError(
            "MultiLeRobotDataset.datasets: the fast reader opens no LeRobotDataset; use "
            "reader='lerobot' for them, or meta.sub_metas for each dataset's metadata"
        )
