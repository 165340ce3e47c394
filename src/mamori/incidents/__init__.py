"""Alerts, incidents (FLT-1…4, LAW-4) and the service desk (OPS-1)."""
