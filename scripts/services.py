#!/usr/bin/env python3
"""Start and stop the real local services Bazooka's tests and demo use, on 127.0.0.1 only.

    python3 scripts/services.py start [--cluster] [--only pg,redis,kafka,cluster]
    python3 scripts/services.py stop  [--only ...]
    python3 scripts/services.py status
    python3 scripts/services.py env   [--cluster]        # shell `export` lines to use them

The code is the package ``tools.services`` (standard library only: it runs before the
project's virtualenv exists); this file puts the checkout's root on ``sys.path`` and runs its
command line (``python3 -m tools.services.cli`` from the root is the same).
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tools package
    from tools.services.cli import main

    sys.exit(main())
