"""Training: the config, data streams, the trainer loop with DDP, checkpoints and logs."""
