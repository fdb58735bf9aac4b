"""``python -m nerve quickstart`` is the same as ``nerve quickstart``."""

import sys

from nerve.tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
