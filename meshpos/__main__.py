"""``python -m meshpos``: the same as the ``meshpos`` command."""

import sys

from meshpos.cli import main

sys.exit(main())
