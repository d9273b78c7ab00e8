"""python benchmarks/context_quality/run.py: the same as python -m benchmarks.context_quality."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path[0] = ROOT          # this directory's modules are imported as the package's
else:
    sys.path.insert(0, ROOT)

from benchmarks.context_quality.runner import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
