"""OMS system service: what the platform runs with, and which instances are alive."""
