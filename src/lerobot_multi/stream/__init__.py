"""The streaming mixture: one lerobot stream per dataset, interleaved by shares."""
