"""``python -m bazooka`` runs the CLI."""

from bazooka.cli import entrypoint

entrypoint()
