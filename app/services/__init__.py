"""What the service does, independent of HTTP: used by routes and by worker handlers."""
