"""OMS group service."""
