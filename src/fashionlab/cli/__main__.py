"""``python -m fashionlab.cli``."""

import sys

from fashionlab.cli import main

sys.exit(main())
