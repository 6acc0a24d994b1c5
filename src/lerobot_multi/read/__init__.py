"""Sample readers: frame stores, video decoding, the fast reader and lerobot's, the per-dataset schema step."""
