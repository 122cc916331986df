"""pkgrun.toml (file.py) and the settings a run uses, from it, the command line and the
environment (settings.py). Imports recipe (for the shared field types) and the base."""
