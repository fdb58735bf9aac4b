"""``python -m nerve quickstart`` is the same as ``nerve quickstart``."""

import sys

from nerve.cli import main

sys.exit(main())
