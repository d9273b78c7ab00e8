"""python -m benchmarks.context_quality (from the repository's root)."""

import sys

from .runner import main

sys.exit(main())
