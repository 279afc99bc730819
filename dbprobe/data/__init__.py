"""The seeded reference domain: named scales, deterministic rows, loading and checksums, and
the ids a table holds, for operations to pick rows that exist."""
