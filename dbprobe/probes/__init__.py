"""Probes: one module or sub-package per probe, each owning its ``run_<probe>``; ``workload``
is the skeleton the workload probes (uow, repo, user scenarios) share."""
