"""``python -m nerve quickstart`` is the same as ``nerve quickstart``."""

import sys

from nerve.tools.cli import main

sys.exit(main())
