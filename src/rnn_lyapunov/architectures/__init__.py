"""Architectures: the base class plugins subclass, their registry, the sequence model and torch.nn interop."""
