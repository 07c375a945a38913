"""The register's services on the engine: its receipt numbers, the API register apps call, and the
status its indicator shows (docs/architecture.md (Node))."""
