"""OMS user service."""
