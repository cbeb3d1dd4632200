"""Background work: job records, the fixed list of job kinds, the handler registry, the
queue and the runner.

Every job is a row in ``jobs`` (:func:`app.jobs.records.new_job`); one
:func:`app.jobs.runner.run_job` runs it, on a Celery worker (``worker/celery_app.py``)
when a broker is configured and on a thread pool inside the API process otherwise: the
same code in both modes.

The handlers, one per kind of :mod:`app.jobs.kinds`, live in ``worker/handlers/`` and
register themselves in :mod:`app.jobs.registry` when imported. Only the runner imports
them (:func:`app.jobs.runner.load_handlers`, at the start of a worker or of the
in-process queue): no other module of ``app/`` imports ``worker/``.
"""
