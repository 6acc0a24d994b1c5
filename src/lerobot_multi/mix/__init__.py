"""The map-style mixture and its sampling: shares, the weighted sampler."""
