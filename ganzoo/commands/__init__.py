"""CLI command groups beyond the core ones in ganzoo.cli; each registers itself on the app."""
