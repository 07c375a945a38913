"""Operating meshpos in the field: metrics, logs, services (and backups): docs/architecture.md (Operations)."""
