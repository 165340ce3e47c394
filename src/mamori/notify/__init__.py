"""Notifications: e-mail over SMTP and HMAC-signed webhooks, routed by severity and rule."""
