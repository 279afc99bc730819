"""The seeded reference domain: named scales, deterministic rows, loading and checksums."""
