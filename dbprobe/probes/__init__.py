"""Probes: one module per workload."""
