"""OMS device service."""
