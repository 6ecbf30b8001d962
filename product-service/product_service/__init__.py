"""OMS product service."""
