"""Analyses of spectra: spectrum features and the engine's validation against known systems."""
