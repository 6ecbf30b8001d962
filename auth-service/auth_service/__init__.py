"""OMS auth service: the apps that may call the API, and their tokens."""
