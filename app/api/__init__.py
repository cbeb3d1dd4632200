"""HTTP layer: routers, dependencies, errors, security."""
