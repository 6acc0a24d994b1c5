"""What a checkpoint carries: group (un)normalizer and condition processor steps, export to stock lerobot."""
