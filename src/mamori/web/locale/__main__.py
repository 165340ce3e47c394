"""``python -m mamori.web.locale [--update]``: see :func:`mamori.web.i18n.main`."""

from __future__ import annotations

import sys

from mamori.web.i18n import main

sys.exit(main())
