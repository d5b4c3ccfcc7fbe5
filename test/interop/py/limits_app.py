"""A Celery app whose task sleeps, for time limits set by a TypeScript caller (run with the prefork pool:
the solo pool does not enforce time limits)."""
import time

from celery.exceptions import SoftTimeLimitExceeded

from fleet import create_app

app = create_app('limits')


@app.task(name='limits.py_sleep')
def py_sleep(seconds):
    try:
        time.sleep(seconds)
    except SoftTimeLimitExceeded:
        return 'soft limit caught'
    return 'slept'
