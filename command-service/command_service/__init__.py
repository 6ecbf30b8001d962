"""OMS command service."""
