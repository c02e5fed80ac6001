"""``python -m bazooka`` runs the CLI."""

from bazooka.cli import entrypoint

# Guarded: a worker process started with "spawn" imports this module again (as __mp_main__).
if __name__ == "__main__":
    entrypoint()
