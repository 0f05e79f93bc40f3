"""``python -m voip_core`` runs the ``voip`` command."""

import sys

from voip_core.cli import main

sys.exit(main())
