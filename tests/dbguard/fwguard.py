"""The guard with the SQL firewall wired in: now :mod:`mamori.dbguard.guards`, which the
proxies use by default; re-exported here for the tests and benches written against this
module first."""

from __future__ import annotations

from mamori.dbguard.guards import FirewallGuard, FirewallGuards

__all__ = ["FirewallGuard", "FirewallGuards"]
