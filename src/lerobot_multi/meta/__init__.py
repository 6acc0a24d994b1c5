"""Per-dataset sources and metadata, the schema, stats, conditioning groups and the merged metadata (no frame data)."""
