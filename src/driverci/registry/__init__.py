"""Registry: drivers, CI systems and contacts, as validated data kept in git."""
