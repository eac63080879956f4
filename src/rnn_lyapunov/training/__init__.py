"""Training: one reproducible run with spectra per epoch, its checkpoints and the task table."""
