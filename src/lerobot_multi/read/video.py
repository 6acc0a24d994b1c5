"""Video: choosing a decoder that loads on this machine, and decoding a batch's frames file by file.

`VideoFrames` decodes what lerobot's `decode_video_frames` decodes (same frame index rule, same float
conversion, same tolerance test), but all of a batch's frames of one file in one torchcodec call, with
one decoder per file per process kept in a bounded LRU cache. With pyav it calls lerobot's own
decode function once per sample window, as lerobot does.
"""

from __future__ import annotations

import functools
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from lerobot_multi.compat import LINE
from lerobot_multi.meta.parallel import available_cores

logger = logging.getLogger(__name__)


@functools.cache
def torchcodec_loads() -> bool:
    """torchcodec imports its FFmpeg shared libraries lazily; find out now, not at the first frame."""
    try:
        import torchcodec.decoders  # noqa: F401
    except Exception as e:  # missing libavcodec & co. raise RuntimeError/OSError from deep inside
        logger.debug("torchcodec failed to load: %s", e)
        return False
    return True


def resolve_video_backend(requested: str | None) -> str:
    """`requested`, or torchcodec when it loads, else pyav (with a warning saying why)."""
    if requested not in (None, "torchcodec"):
        return requested
    if torchcodec_loads():
        return "torchcodec"
    logger.warning(
        "torchcodec cannot load its FFmpeg libraries (Debian: apt install libavutil57 libavcodec59 "
        "libavformat59 libavdevice59 libavfilter8 libswscale6 libswresample4); decoding videos with "
        "pyav instead, which is slower"
    )
    return "pyav"


def frame_dtype(return_uint8: bool) -> torch.dtype:
    """The dtype of decoded video frames (and of the zeros that stand in for a missing camera)."""
    return torch.uint8 if return_uint8 else torch.float32


def decode_with_lerobot(path, timestamps: list[float], tolerance_s: float, backend: str, return_uint8: bool):
    """lerobot's `decode_video_frames`; uint8 frames where asked (0.6 returns them itself; 0.4.4's
    float frames are raw / 255, so x 255 rounds back to the raw values exactly)."""
    from lerobot.datasets.video_utils import decode_video_frames  # on use: lerobot.datasets is heavy

    if return_uint8 and LINE.decoder_returns_uint8:
        return decode_video_frames(path, timestamps, tolerance_s, backend, return_uint8=True)
    frames = decode_video_frames(path, timestamps, tolerance_s, backend)
    return frames.mul(255).round_().to(torch.uint8) if return_uint8 else frames


class VideoDecodeError(ValueError):
    """A frame could not be decoded, or lies outside the tolerance; the caller adds dataset and episode."""


class VideoFrames:
    """Frames at timestamps, decoded per file. Decoders are per process (a forked DataLoader worker
    starts its own: torchcodec decoders must not cross a fork) and at most `max_open` at once."""

    def __init__(self, backend: str, tolerance_s: float, max_open: int = 64, return_uint8: bool = False):
        self.backend, self.tolerance_s, self.max_open = backend, tolerance_s, max_open
        self.return_uint8 = return_uint8  # lerobot 0.6's `return_uint8`: raw frames, no float conversion
        self._decoders: OrderedDict[str, object] = OrderedDict()
        self._pid = os.getpid()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_decoders": OrderedDict()}

    def _own_process(self) -> None:
        if self._pid != os.getpid():
            self._decoders, self._pid = OrderedDict(), os.getpid()

    def decode_many(
        self, requests: Sequence[tuple[Path, Sequence[np.ndarray]]]
    ) -> list[torch.Tensor | Exception]:
        """`decode` for each (path, windows); a failed one gives its exception. Files are decoded on
        threads (torchcodec releases the GIL) in the main process; a DataLoader worker decodes them in
        turn, since the workers already share out the cores."""
        self._own_process()

        def one(request):
            try:
                return self.decode(*request)
            except Exception as e:  # VideoDecodeError, or the pyav path's own errors
                return e

        if len(requests) < 2 or torch.utils.data.get_worker_info() is not None or available_cores() < 2:
            return [one(r) for r in requests]
        # threads for this batch only: a thread that ran torch ops keeps an OpenMP team alive, and
        # idle teams make libgomp put the training step's own threads to sleep between parallel
        # regions (a SmolVLA step ran 2x slower beside a kept pool; benchmarks/bench_vla.py)
        with ThreadPoolExecutor(available_cores(), thread_name_prefix="lerobot-multi-video") as pool:
            return list(pool.map(one, requests))

    def _decoder(self, path: str):
        self._own_process()
        decoder = self._decoders.get(path)
        if decoder is None:
            from torchcodec.decoders import VideoDecoder

            decoder = VideoDecoder(path, seek_mode="approximate")  # lerobot's mode
            self._decoders[path] = decoder
            while len(self._decoders) > self.max_open:
                self._decoders.popitem(last=False)
        else:
            self._decoders.move_to_end(path)
        return decoder

    def decode(self, path: Path, windows: Sequence[np.ndarray], depth=None) -> torch.Tensor:
        """Frames at each window's timestamps (seconds in the file), concatenated in window order:
        (sum of window sizes, C, H, W) float32 in [0, 1], or uint8 with `return_uint8`; a depth video's
        (`depth`: its `read.depth.DepthCamera`) dequantized to its output unit."""
        if depth is not None:  # lerobot decodes depth with pyav, whatever the backend
            return torch.cat([depth.decode(path, w.tolist(), self.tolerance_s) for w in windows])
        if self.backend != "torchcodec":
            return torch.cat(
                [
                    decode_with_lerobot(path, w.tolist(), self.tolerance_s, self.backend, self.return_uint8)
                    for w in windows
                ]
            )
        timestamps = np.concatenate(windows)
        decoder = self._decoder(str(path))
        indices = np.round(timestamps * decoder.metadata.average_fps).astype(np.int64)
        unique, inverse = np.unique(indices, return_inverse=True)
        try:
            batch = decoder.get_frames_at(indices=unique.tolist())
        except Exception as e:  # a truncated or corrupt file: torchcodec raises IndexError/RuntimeError
            raise VideoDecodeError(
                f"cannot decode frames {unique.tolist()} (timestamps {timestamps.tolist()}) of {path}: {e}"
            ) from e
        # lerobot's test, in its float32: the loaded frame within tolerance_s of the query
        inverse_t = torch.from_numpy(inverse.reshape(-1))
        loaded = batch.pts_seconds.to(torch.float32)[inverse_t]
        distance = (torch.tensor(timestamps.tolist()) - loaded).abs()
        outside = ~(distance < self.tolerance_s)
        if outside.any():
            raise VideoDecodeError(
                f"frames outside tolerance_s={self.tolerance_s} in {path}: queried timestamps "
                f"{timestamps[outside.numpy()].tolist()}, nearest loaded {loaded[outside].tolist()}"
            )
        frames = (
            batch.data
            if len(unique) == len(indices) and (np.diff(indices) > 0).all()
            else batch.data[inverse_t]
        )
        if self.return_uint8:
            return frames
        # lerobot's `frames / 255.0`, bit for bit, without a second full-size temporary
        return frames.to(torch.float32).div_(255.0)
