"""Looking at a mixture: the lerobot-multi-info table and its plots."""
