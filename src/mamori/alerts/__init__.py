"""Alerts: detections deduplicated, suppressed against floods, acknowledged and escalated."""
