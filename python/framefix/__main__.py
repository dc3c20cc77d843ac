import sys

from framefix.cli import main

sys.exit(main())
