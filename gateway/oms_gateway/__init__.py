"""The OMS gateway: nginx in front of the services, and the launcher of the platform."""
