"""How deliveries leave mamori: one module per transport beside the interface they share."""
