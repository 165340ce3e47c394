"""The guards the proxies run: SQL analysis, the firewall with the home's allowlist, and the row
and time policies of each ``[[dbguard]]`` table.

:class:`Guard` already lets the firewall's decision take the place of the analysis's own (the
firewall weighs the findings in its mode: ``learn`` and ``monitor`` refuse nothing).
:class:`FirewallGuards` builds one guard per proxy around ONE allowlist, the home's
(``HOME/dbguard.db``); close it after the proxies so that what ``learn`` recorded is written.
"""

from __future__ import annotations

from collections.abc import Callable

from mamori.dbguard import analysis
from mamori.dbguard.allowlist import Allowlist
from mamori.dbguard.firewall import Firewall
from mamori.dbguard.guard import Guard, default_policies
from mamori.dbguard.settings import DbGuardConfig
from mamori.home import Home

FirewallGuard = Guard
"""Kept for callers of the first version: the firewall-aware guard is :class:`Guard`."""


class FirewallGuards:
    """A guard factory for ``start_proxies``/``run_standalone``."""

    guard_class: type[Guard] = Guard

    def __init__(
        self, home: Home, *, on_error: Callable[[str, BaseException], None] | None = None
    ) -> None:
        self.home = home
        self.on_error = on_error
        self.allowlist = Allowlist.open(home)

    def __call__(self, cfg: DbGuardConfig) -> Guard:
        return self.guard_class(
            cfg,
            analyse=analysis.analyse,
            firewall=Firewall(cfg.firewall_mode, self.allowlist),
            policies=default_policies(cfg, self.home),
            on_error=self.on_error,
        )

    def close(self) -> None:
        """Write what ``learn`` recorded and close the allowlist."""
        self.allowlist.close()
