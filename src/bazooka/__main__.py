"""``python -m bazooka`` runs the CLI."""

import sys

from bazooka.cli import main

sys.exit(main())
