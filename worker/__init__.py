"""The Celery worker and the job handlers it runs.

Jobs themselves (records, kinds, the handler registry, the queue and the runner) live
in :mod:`app.jobs`; ``worker/handlers/`` registers one handler per job kind there, and
``worker/celery_app.py`` runs :func:`app.jobs.runner.run_job` for each message. Nothing
in ``app/`` imports this package except the runner.
"""
