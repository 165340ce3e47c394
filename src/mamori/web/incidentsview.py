"""Incidents (FLT-1…4, LAW-4) and service-desk tickets (OPS-1): pages and /api/v1 routes."""

from __future__ import annotations

from fastapi import FastAPI

from mamori.web.auth import Console

__all__ = ["register_incidents"]


def register_incidents(app: FastAPI, console: Console) -> None:
    """Add the routes to `app`."""
