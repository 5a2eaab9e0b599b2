"""`python -m onesh` is the same as the `onesh` command."""

import sys

from onesh.cli import main

sys.exit(main())
