"""StreamingMultiLeRobotDataset: several LeRobot v3.0 datasets streamed and interleaved as one.

Each dataset's rows come from lerobot's streaming machinery (source_stream.py: shard interleaving,
shuffle buffer); the metadata is `open_mixture_metadata`'s, as the map-style mixture's, so `meta` (stats, global episode/task numbering, common features) and
the samples are those of the map-style `MultiLeRobotDataset`.

The stream: epoch e is a sequence of `epoch_size` dataset labels (default: the selected frames) drawn
block-wise from the counts `apportion(epoch_size, sampling_shares(meta))` by `mixing.epoch_labels(counts,
seed, e)` (the map-style sampler's draws); label j names the dataset whose stream gives sample j. A dataset's stream
is pass after pass over its selected frames, each shuffled by lerobot's buffer seeded by (seed,
dataset, pass). `stop_strategy` "restart" (default) starts a dataset's next pass when it runs out, so
every epoch holds `epoch_size` samples in the exact shares, as the map-style `WeightedMixtureSampler`
does (hence the default); "stop" restarts all streams each epoch and ends the epoch at the first label
whose stream has run out. With the default shares both give every selected frame once per epoch.

Splitting: every DataLoader worker and rank computes the same sequence; sample j (counted from the
stream's start) belongs to rank `j % world_size` and there to worker `(j // world_size // batch_size)
% num_workers`: disjoint shares whose union is the sequence, and with the DataLoader's `batch_size`
its in-order output is the rank's sequence. The price: every worker reads every parquet row (to keep
the streams aligned); tensors and video frames, the dominant cost, are made only for its own samples.
Under accelerate, do not let `accelerator.prepare` wrap the DataLoader (by default process 0 reads for
all and dispatches batches, which fails on task strings; with dispatch_batches=False each process reads
everything and keeps its slice): lerobot-multi-train's `StreamAwareAccelerator` sets the rank instead.

Exact: labels, per-epoch counts, sample contents (the map-style tensors for the same global index,
delta windows and `_is_pad` included), disjointness, and resumption (`state_dict`/`seek` replay the
streams without decoding, i.e. read up to one pass of each dataset, and continue with the very next
sample). Approximate: the order within a
dataset is lerobot's buffer shuffle (random within `buffer_size` frames, not a full permutation).
DataLoader workers hold copies, so the object's counters do not advance; the trainer knows the
position (step x batch x processes) and passes it to `seek`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from lerobot_multi.meta.mixing import STOP_STRATEGIES, apportion, epoch_labels, sampling_shares, shuffle_rng
from lerobot_multi.meta.opening import open_mixture_metadata
from lerobot_multi.meta.parallel import parallel_map
from lerobot_multi.meta.schema import resolve_windows
from lerobot_multi.meta.source_meta import holds_every_file, stream_files
from lerobot_multi.meta.sources import DatasetSourceError, EpisodesSpec, RootSpec
from lerobot_multi.meta.spec import MixtureSpec, make_spec
from lerobot_multi.read.schema_step import SchemaStep, transforms_of_step
from lerobot_multi.read.video import resolve_video_backend
from lerobot_multi.stream.source_stream import SourceStream

logger = logging.getLogger(__name__)

_STEP_BATCH = 32  # samples materialized before the schema step runs on them (once per dataset)
_STATE = ("seed", "epoch_size", "stop_strategy", "epoch", "position", "samples_before")


def _from_meta(name: str) -> property:
    return property(lambda self: getattr(self.meta, name), doc=f"`meta.{name}`")


class StreamingMultiLeRobotDataset(torch.utils.data.IterableDataset):
    """Interleaved streams of several LeRobot datasets, with the map-style mixture's metadata.

    Args (beyond `MultiLeRobotDataset`'s, whose `**options` it takes: `MixtureSpec` fields, among them
    buffer_size, lerobot's shuffle buffer per dataset, and stop_strategy, see the module docstring):
        seed: seeds the label sequence and every shuffle (deterministic from seed and epoch).
        infinite: iterate epoch after epoch (training); else one epoch per `iter()`.
        batch_size: the DataLoader's batch size (keeps its in-order output equal to the sequence).
        rank, world_size: this process's share; None reads torch.distributed (1 process if unset).
    """

    def __init__(
        self,
        repo_ids: str | Sequence[str],
        root: RootSpec = None,
        episodes: EpisodesSpec = None,
        delta_timestamps: Mapping[str, Sequence[float]] | None = None,
        image_transforms: Callable | None = None,
        tolerance_s: float = 1e-4,
        *,
        seed: int = 0,
        infinite: bool = False,
        batch_size: int = 1,
        rank: int | None = None,
        world_size: int | None = None,
        **options: Any,
    ):
        super().__init__()
        spec = make_spec(repo_ids, root, episodes, options)
        self._open(spec, delta_timestamps, image_transforms, tolerance_s, overrides=True)
        self.seed, self.infinite = int(seed), infinite
        self.batch_size, self.rank, self.world_size = max(1, int(batch_size)), rank, world_size

    @classmethod
    def from_spec(
        cls,
        spec: MixtureSpec,
        delta_timestamps: Mapping[str, Sequence[float]] | None = None,
        image_transforms: Callable | None = None,
        tolerance_s: float = 1e-4,
        seed: int = 0,
        infinite: bool = False,
        batch_size: int = 1,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> StreamingMultiLeRobotDataset:
        """The stream of the mixture `spec` describes (`MixtureSpec.from_config(cfg.dataset)`); its
        `delta_overrides` apply as in `MultiLeRobotDataset.from_spec`."""
        stream = cls.__new__(cls)
        torch.utils.data.IterableDataset.__init__(stream)
        stream._open(spec, delta_timestamps, image_transforms, tolerance_s, delta_timestamps is not None)
        stream.seed, stream.infinite = int(seed), infinite
        stream.batch_size, stream.rank, stream.world_size = max(1, int(batch_size)), rank, world_size
        return stream

    def _open(
        self, spec: MixtureSpec, delta_timestamps, image_transforms, tolerance_s: float, overrides: bool
    ) -> None:
        self.spec = spec
        self.meta = open_mixture_metadata(spec, fetch=False)  # data and videos are read remotely
        unread = {m.repo_id: m.format.name for m in self.meta.sub_metas if not m.format.lerobot_streams}
        if unread:
            raise DatasetSourceError(
                f"datasets {list(unread)} are LeRobot {'/'.join(sorted(set(unread.values())))}: streaming reads through "
                "lerobot's StreamingLeRobotDataset, which does not read them; use the map-style mixture "
                "(streaming: false), which reads them in place"
            )
        self.step = SchemaStep(self.meta, return_uint8=spec.return_uint8)
        self.frames = self.meta.frames_by_dataset
        self.sampling_shares = sampling_shares(self.meta)
        self.epoch_size = int(spec.epoch_size if spec.epoch_size is not None else self.frames.sum())
        self.counts = apportion(self.epoch_size, self.sampling_shares)
        self.stop_strategy = spec.stop_strategy
        self.stopping = STOP_STRATEGIES[spec.stop_strategy]
        self.tolerance_s, self.image_transforms = tolerance_s, image_transforms
        backend = resolve_video_backend(spec.video_backend)
        remote = [None if holds_every_file(m) else m.location for m in self.meta.sub_metas]
        files = [
            None if where is None else stream_files(where, m) for where, m in zip(remote, self.meta.sub_metas)
        ]
        self._sources: list[SourceStream] = parallel_map(
            lambda i: SourceStream(
                self.meta.sources[i],
                tolerance_s,
                spec.buffer_size,
                backend,
                spec.return_uint8,
                spec.depth_output_unit,
                remote=remote[i],
                data_files=files[i],
            ),
            range(len(remote)),
        )
        for i, src in enumerate(self._sources):
            # the mixture's cameras under the source's names: disabled ones are never decoded
            own = [self.meta.source_key(i, k) for k in self.meta.camera_keys]
            src.cameras = [k for k in own if k in src.meta.camera_keys]
        self.epoch, self.position, self.samples_before = 0, 0, 0
        self.set_delta_timestamps(delta_timestamps, self.meta.delta_overrides if overrides else None)
        logger.info("Streaming %s with shares %s", self.repo_ids, np.round(self.sampling_shares, 4).tolist())

    def set_delta_timestamps(
        self,
        delta_timestamps: Mapping[str, Sequence[float]] | None,
        per_dataset: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    ) -> None:
        """Temporal context (seconds, keys of the mixture) for every dataset, checked against each fps;
        `per_dataset` ({repo_id: {key: seconds}}) overrides it for the datasets it names."""
        shown, resolved, indices = resolve_windows(self.meta, delta_timestamps, per_dataset, self.tolerance_s)
        self.delta_timestamps, self.delta_timestamps_by_dataset = shown, resolved
        for i, (src, own) in enumerate(zip(self._sources, indices)):
            # under the source's own names, for the features it has (a filled camera it lacks: none)
            named = {self.meta.source_key(i, k): v for k, v in (own or {}).items()}
            src.set_delta_indices({k: v for k, v in named.items() if k in src.meta.features} or None)
        self.step.set_windows(indices)

    def set_delta_indices(self, delta_indices: Mapping[str, Sequence[int]] | None) -> None:
        """Temporal context in frames: each dataset converts them to seconds with its own fps."""
        per_dataset = {
            rid: {k: [i / fps for i in idx] for k, idx in (delta_indices or {}).items()}
            for rid, fps in zip(self.repo_ids, self.meta.fps_by_dataset)
        }
        self.set_delta_timestamps(None, per_dataset if delta_indices else None)

    # --- the label sequence -------------------------------------------------------------------------
    def epoch_length(self, epoch: int) -> int:
        """Samples in epoch `epoch`: `epoch_size`, or with "stop" up to the first exhausted stream."""
        return self.stopping.epoch_length(self.counts, self.frames, self.seed, epoch)

    def _stream(self, d: int, epoch: int) -> Iterator[tuple[dict, dict]]:
        """Dataset d's lazy rows from where epoch `epoch` starts reading it, pass after pass."""
        src, n = self._sources[d], int(self.frames[d])
        p, skip = self.stopping.start(d, self.counts, self.frames, epoch)
        while True:
            src.rng = shuffle_rng(self.seed, d, p)
            got = 0
            for row in src:
                got += 1
                if got > skip:
                    yield row
            if got != n:
                raise DatasetSourceError(
                    f"dataset {src.repo_id!r}: its data holds {got} frames of the selected episodes but "
                    f"meta/episodes says {n}; the dataset is inconsistent"
                )
            p, skip = p + 1, 0

    # --- iteration ----------------------------------------------------------------------------------
    def _owner(self) -> Callable[[int], bool]:
        rank, world = self.rank, self.world_size
        if rank is None or world is None:
            dist = torch.distributed
            on = dist.is_available() and dist.is_initialized()
            rank, world = (dist.get_rank(), dist.get_world_size()) if on else (0, 1)
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        size = self.batch_size
        return lambda g: g % world == rank and (g // world // size) % workers == worker

    def __iter__(self) -> Iterator[dict]:
        owns = self._owner()
        while True:
            epoch, base, length = self.epoch, self.samples_before, self.epoch_length(self.epoch)
            streams = [self._stream(d, epoch) for d in range(len(self.frames))]
            j, pending = 0, []  # this process's next samples: (position, dataset, row, neighbours)
            for block in epoch_labels(self.counts, self.seed, epoch):
                for d in block[: length - j].tolist():
                    row = next(streams[d])  # others' samples too: that is how the streams stay aligned
                    j += 1
                    if j > self.position and owns(base + j - 1):
                        pending.append((j, d, *row))
                        if len(pending) >= max(self.batch_size, _STEP_BATCH):
                            yield from self._samples(pending)
                            pending = []
                if j >= length:
                    break
            yield from self._samples(pending)
            self.epoch, self.position, self.samples_before = epoch + 1, 0, base + length
            if not self.infinite:
                return

    def _samples(self, pending: list[tuple]) -> Iterator[dict]:
        """The pending samples in order, through the schema step once per dataset among them;
        `position` counts each as it is handed out (what `state_dict` saves)."""
        items = [self._sources[d].materialize(row, near) for _, d, row, near in pending]
        for (j, *_), sample in zip(pending, self.step.samples_of([d for _, d, *_ in pending], items)):
            self.position = j
            yield sample

    image_transforms = transforms_of_step

    # --- resumption ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The mixture's identity, then where the stream stands: epoch, position in it, samples before it."""
        return {k: getattr(self, k) for k in _STATE}

    def load_state_dict(self, state: Mapping) -> None:
        if any(state[k] != getattr(self, k) for k in _STATE[:3]):
            raise ValueError(f"stream state {dict(state)} is for another mixture ({self.state_dict()})")
        self.epoch, self.position, self.samples_before = (int(state[k]) for k in _STATE[3:])

    def seek(self, samples: int) -> None:
        """Continue after `samples` samples of the whole stream (all ranks), e.g. step x batch x processes."""
        epoch, before = 0, 0
        if self.stopping.fixed_length:  # every epoch has epoch_size samples
            epoch, before = samples // self.epoch_size, samples // self.epoch_size * self.epoch_size
        while samples - before >= (length := self.epoch_length(epoch)):
            epoch, before = epoch + 1, before + length
        self.epoch, self.position, self.samples_before = epoch, samples - before, before

    # --- the guide's attributes (read from the merged metadata) -----------------------------------
    repo_ids = _from_meta("repo_ids")
    repo_id_to_index = _from_meta("repo_id_to_index")
    disabled_features = _from_meta("disabled_features")
    num_frames = _from_meta("total_frames")
    num_episodes = _from_meta("total_episodes")
    fps = _from_meta("fps")
    features = _from_meta("features")
    camera_keys = _from_meta("camera_keys")
    stats = _from_meta("stats")
    depth_output_unit = property(lambda self: self.spec.depth_output_unit, doc="lerobot 0.6's depth unit")
    episodes = property(lambda self: None, doc="lerobot-style: None (`meta.episodes` holds the selection)")
