"""Background work: the Celery application and the job handlers it runs.

Every job is a row in ``jobs``; ``run_job(job_id)`` is the single entry point,
executed by a Celery worker when a broker is configured and by a thread pool
inside the API process otherwise: the same code in both modes.
"""
