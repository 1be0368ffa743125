"""``python -m honing ...`` runs the ``honing`` command."""

import sys

from .cli import main

sys.exit(main())
