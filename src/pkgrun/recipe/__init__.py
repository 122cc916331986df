"""Recipes: the field types (schema.py), validation and its messages, loading a recipe with its
cross-checks (model.py) and its directory (directory.py, script_lint.py). Imports only the base."""
