"""``python -m gameapi_async``: the same as the ``gameapi`` command."""

import sys

from .cli import main

sys.exit(main())
