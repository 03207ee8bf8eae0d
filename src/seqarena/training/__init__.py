"""The training engine: one loop (loop.py), optimizers and schedules (optim.py), checkpoints (checkpoint.py)."""
