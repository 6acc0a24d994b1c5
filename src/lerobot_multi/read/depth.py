"""lerobot 0.6's depth cameras, read as its `DatasetReader` reads them.

A depth video (12-bit, quantized when recorded) is decoded with lerobot's `decode_video_frames(...,
is_depth=True)` and dequantized with the parameters in the feature's `info` (`DepthEncoderConfig`) to
the mixture's `depth_output_unit`; a depth image is the raw map in the unit it was recorded in
(`info.depth_unit`), converted to the output unit. Each dataset converts from its own unit, so datasets
recorded in millimetres and in metres mix. lerobot's image transforms do not touch depth maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from lerobot_multi import compat
from lerobot_multi.meta.schema import depth_unit, is_depth
from lerobot_multi.meta.stats import MM_PER_METRE


@dataclass(frozen=True)
class DepthCamera:
    """One dataset's depth camera: how its stored maps become maps in `output_unit`."""

    info: dict
    stored_unit: str | None
    output_unit: str

    def decode(self, path: Path | str, timestamps: list[float], tolerance_s: float) -> torch.Tensor:
        """Frames at `timestamps` (seconds in the file) of a depth video: (n, 1, H, W) in the output unit."""
        from lerobot.datasets.video_utils import decode_video_frames  # on use: lerobot.datasets is heavy

        frames = decode_video_frames(path, timestamps, tolerance_s, "pyav", is_depth=True)
        cfg = self.encoder
        return compat.dequantize_depth(
            frames,
            depth_min=cfg.depth_min,
            depth_max=cfg.depth_max,
            shift=cfg.shift,
            use_log=cfg.use_log,
            output_unit=self.output_unit,
        )

    @cached_property
    def encoder(self):
        """The quantization the video was recorded with (lerobot's `DepthEncoderConfig`), read once."""
        return compat.DepthEncoderConfig.from_video_info(self.info)

    def convert(self, maps: torch.Tensor) -> torch.Tensor:
        """Raw maps of a depth image feature, from the recorded unit to the output unit."""
        if self.stored_unit is None or self.stored_unit == self.output_unit:
            return maps
        return maps * MM_PER_METRE if self.stored_unit == "m" else maps / MM_PER_METRE


def depth_cameras(features: dict[str, dict], output_unit: str) -> dict[str, DepthCamera]:
    """{key: DepthCamera} for a dataset's own depth features."""
    return {
        key: DepthCamera(dict(ft.get("info") or {}), depth_unit(ft), output_unit)
        for key, ft in features.items()
        if is_depth(ft)
    }
