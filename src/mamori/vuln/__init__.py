"""Vulnerability and support-lifecycle management (SEC-2, SEC-3, CLD-9, OPS-5, OPS-8, IP-4):
inventories of components, an offline vulnerability database (OSV, Debian Security Tracker),
ecosystem-correct matching, end-of-life data, and the decisions taken on each finding.
See docs/vuln.md."""
