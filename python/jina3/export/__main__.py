"""python3 -m jina3.export: see jina3.export.package."""

import sys

from .package import main

sys.exit(main())
