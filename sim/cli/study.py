"""govsim CLI commands (filled by its issue)."""
