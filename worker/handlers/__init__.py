"""Job handlers, one module per kind; importing this package registers them all."""

from worker.handlers import ingest, preview, probe, recommend, reembed  # noqa: F401
