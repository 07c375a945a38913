"""``python -m meshpos``: the same as the ``meshpos`` command."""

import sys

from meshpos.start import main

sys.exit(main())
