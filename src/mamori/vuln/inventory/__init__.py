"""Inventories (SEC-2, OPS-5): what software a system runs, read from the places it is
recorded (the dpkg database, Python environments and lockfiles, npm lockfiles, SBOMs), reduced
to :class:`~mamori.vuln.components.Component`, kept per system and date, exported as
CycloneDX or SPDX, and compared. See docs/vuln-inventory.md.

The parsers (:mod:`.dpkg`, :mod:`.osrelease`, :mod:`.python`, :mod:`.npm`, :mod:`.sbom_in`)
take text or bytes and return components; :mod:`.collect` and :mod:`.store` do the I/O.
"""

from mamori.vuln.inventory.model import Inventory, Problem

__all__ = ["Inventory", "Problem"]
