"""A Python Celery caller setting time limits on a TypeScript task; prints one JSON line.

Usage: python3 limits_caller.py <queue> <scenario>
  hard:       time_limit=1 on a handler that ignores its signal for 3 s: get() must raise Celery's TimeLimitExceeded.
  soft-catch: soft_time_limit=0.5 (a float, as Python sends it) on a handler that catches the abort and returns.
  soft-raise: soft_time_limit=0.5 on a handler that rethrows it: get() must raise Celery's SoftTimeLimitExceeded.
"""
import json
import sys
import time

import celery
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from fleet import create_app

app = create_app('limits-caller')
queue, scenario = sys.argv[1], sys.argv[2]

calls = {
    'hard': (('ignore', 3000), {'time_limit': 1}),
    'soft-catch': (('catch', 10000), {'soft_time_limit': 0.5, 'time_limit': 5}),
    'soft-raise': (('rethrow', 10000), {'soft_time_limit': 0.5}),
}
args, limits = calls[scenario]
start = time.monotonic()
r = app.send_task('limits.work', args=args, queue=queue, serializer='json', **limits)
out = {'celery': celery.__version__, 'id': r.id}
try:
    out.update(ok=True, value=r.get(timeout=20))
except Exception as e:  # the point is to report what Celery raised
    out.update(ok=False, type=type(e).__name__, module=type(e).__module__, message=str(e),
               hard=isinstance(e, TimeLimitExceeded), soft=isinstance(e, SoftTimeLimitExceeded))
out['elapsed'] = time.monotonic() - start
print(json.dumps(out))
