"""Settings: one declaration per run/spectrum setting, run-config validation and sweep expansion."""
