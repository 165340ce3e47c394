"""Alerts (detection results): list, one alert, acknowledge, close; /api/v1/alerts."""

from __future__ import annotations

from fastapi import FastAPI

from mamori.web.auth import Console

__all__ = ["register_alerts"]


def register_alerts(app: FastAPI, console: Console) -> None:
    """Add the routes to `app`."""
