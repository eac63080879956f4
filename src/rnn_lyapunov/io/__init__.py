"""Files: atomic writers, safe readers, and the NetCDF layouts of runs and sweeps."""
