"""The shared floor: run folders, checkpoints, device, Ctrl-C stop, schedules, the model
registry. It imports nothing above it."""
