"""A Python service calling the TypeScript pusher through pusher_bindings as pip installed it.

Usage: <venv>/bin/python installed_caller.py <queue>
Prints one JSON object: where the module came from, its installed version, each call's result and each
refusal (exception type and message).
"""
import importlib.metadata
import json
import os
import sys

import celery
from celery import Celery

app = Celery('service_c', broker=os.environ['AMQP_URL'], backend='rpc://')
app.conf.update(task_serializer='json', result_serializer='json', accept_content=['json'])
app.set_default()

import pusher_bindings  # noqa: E402 (binds to the default app above)
from pusher_bindings import delegate_send_to_s3, send_to_s3  # noqa: E402

queue = sys.argv[1]


def refusal(call):
    try:
        call()
    except Exception as e:  # the point is to report what was raised
        return '%s: %s' % (type(e).__name__, e)
    return 'accepted'


report = {
    'celery': celery.__version__,
    'file': pusher_bindings.__file__,
    'version': importlib.metadata.version('pusher-bindings'),
    # The seed's calls, unchanged: a v1 call never names a version.
    'v1': delegate_send_to_s3('inst/v1.json', 'v1 body', queue=queue).get(timeout=20),
    'v1-text': delegate_send_to_s3('inst/v1-text.json', 'v1 text', version='1', queue=queue).get(timeout=20),
    'v2': delegate_send_to_s3('inst/v2.json', 'v2 body', version=2, meta={'contentType': 'text/plain'}, queue=queue).get(timeout=20),
    'v2-positional': delegate_send_to_s3('inst/v2p.json', 'v2p', '2', {'tags': {'a': 'b'}}, queue=queue).get(timeout=20),
    'task': send_to_s3.apply_async(('inst/task.json', 'direct'), queue=queue, serializer='json').get(timeout=20),
    'refused': {
        repr(v): refusal(lambda: delegate_send_to_s3('inst/never.json', 'never', version=v, queue=queue))
        for v in (2.9, '2.9', 'x', 0, 3, True, False, None)
    },
    'v1-with-meta': refusal(lambda: delegate_send_to_s3('inst/never.json', 'never', meta={}, queue=queue)),
    'v2-without-meta': refusal(lambda: delegate_send_to_s3('inst/never.json', 'never', version=2, queue=queue)),
}
# Sent last: anything a refusal wrongly sent is in the queue before it, so the worker has seen it by now.
report['last'] = delegate_send_to_s3('inst/last.json', 'last', queue=queue).get(timeout=20)
print(json.dumps(report))
