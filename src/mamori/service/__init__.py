"""`mamori up`: the one asyncio process running the receivers and the ledger writer."""
