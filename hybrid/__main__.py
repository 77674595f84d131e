"""Entry point of ``python -m hybrid``."""

import sys

from .cli import main

sys.exit(main())
