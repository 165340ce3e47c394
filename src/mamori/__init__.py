"""mamori (守り): a self-hosted security operations and compliance platform."""

__version__ = "0.1.0"
