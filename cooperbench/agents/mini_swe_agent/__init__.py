"""Compatibility import paths of earlier CooperBench releases (environments, connectors)."""
