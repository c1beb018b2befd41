"""Layer 1: the only place with SQL (SQLite, the embedded default)."""
