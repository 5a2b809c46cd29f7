"""``python -m gandiag.compare report --out reports/``: regenerate reports/divergences.md."""

import sys

from .report import main

sys.exit(main())
