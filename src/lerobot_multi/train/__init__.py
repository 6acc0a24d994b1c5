"""Training inside lerobot's loop: the seam per lerobot line, held-out split, watch, validation, manifest, report."""
