"""A Python Celery pusher modelled on the seed, used by the interop tests as a real Celery worker.

Started by the tests: python3 -m celery -A pusher_app worker -Q <queue> -P solo
INTEROP_QUEUE_TYPE=quorum configures it as a Celery 5.5+ fleet on quorum queues.
Writes "S3 objects" as files under INTEROP_OUT so the tests can check what ran.
"""
import hashlib
import os
import uuid
from datetime import datetime, timezone
from decimal import Decimal

from fleet import create_app

app = create_app('pusher')
OUT = os.environ.get('INTEROP_OUT', '/tmp/taskbus-interop')


def _store(key, content):
    path = os.path.join(OUT, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(content)
    return {'bucket': 'python', 'key': key, 'etag': hashlib.md5(content.encode()).hexdigest()}


@app.task(name='pusher.send_to_s3')
def send_to_s3(key, content):
    return _store(key, content)


@app.task(name='pusher.send_to_s3_v2')
def send_to_s3_v2(key, content, meta):
    return _store(key, content + '|' + (meta.get('contentType') or ''))


@app.task(name='interop.inspect', bind=True)
def inspect(self, *args, **kwargs):
    """Reports what the worker saw of the message, so tests can check how call options arrived."""
    r = self.request
    _store('inspect/' + r.id, 'ran')
    return {
        'args': list(args),
        'kwargs': kwargs,
        'id': r.id,
        'retries': r.retries,
        'eta': r.eta,
        'expires': r.expires,
        'timelimit': list(r.timelimit) if r.timelimit else None,
        'priority': (r.delivery_info or {}).get('priority'),
        # A native delayed delivery arrives with the 28-bit delay prefix on its routing key.
        'routing_key': (r.delivery_info or {}).get('routing_key'),
        'ignore_result': r.ignore_result,
        'root_id': r.root_id,
    }


@app.task(name='interop.fail')
def fail(message):
    raise ValueError(message)


@app.task(name='interop.typed')
def typed():
    """A result with values JSON has no type for: kombu 5.3+ wraps them, kombu 5.2 writes strings."""
    return {
        'id': uuid.UUID('12345678-1234-5678-1234-567812345678'),
        'amount': Decimal('9.99'),
        'at': datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc),
    }


@app.task(name='interop.relay', bind=True)
def relay(self, queue, task, n):
    """Passes the trace on to `task` on `queue` as opentelemetry-instrumentation-celery would (it is not installable
    here): its prerun reads `traceparent`/`tracestate` from the request (Celery copies message headers onto it) and
    starts a consumer span; apply_async from inside starts a producer span and injects it into the message headers.
    Both spans keep the trace id and get span ids of their own; the tracestate passes on unchanged."""
    r = self.request
    seen = {'traceparent': getattr(r, 'traceparent', None), 'tracestate': getattr(r, 'tracestate', None)}
    headers = {}
    if seen['traceparent']:
        version, trace_id, _parent, flags = seen['traceparent'].split('-')
        run_span, publish_span = os.urandom(8).hex(), os.urandom(8).hex()
        headers['traceparent'] = f'{version}-{trace_id}-{publish_span}-{flags}'
        if seen['tracestate']:
            headers['tracestate'] = seen['tracestate']
        seen['run_span'] = run_span
    sent = app.send_task(task, args=(n,), queue=queue, headers=headers, ignore_result=True)
    return {**seen, 'sent': headers, 'next_id': sent.id}
