"""Choosing a video decoder that actually loads on this machine."""

from __future__ import annotations

import functools
import logging

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
