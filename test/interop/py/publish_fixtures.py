"""Publishes real Celery task messages and rpc replies for test/fixtures/capture.ts to record.

Usage: python3 publish_fixtures.py <task-queue> <reply-queue>
Prints a JSON manifest: fixture name -> task id and what the message must decode to. Runs with any Celery
the tests use; what differs between kombu 5.2 and 5.3+ (typed JSON values, stamps) is spelled out below.
"""
import json
import sys
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import kombu
from celery.app.task import Context

from fleet import create_app

task_queue, reply_queue = sys.argv[1], sys.argv[2]
app = create_app('pusher')
# kombu 5.3+ wraps datetime, Decimal, UUID and bytes as {"__type__", "__value__"}; 5.2 writes plain strings.
TYPED_JSON = tuple(int(p) for p in kombu.__version__.split('.')[:2]) >= (5, 3)


@app.task(name='pusher.send_to_s3')
def send_to_s3(key, content):
    pass


manifest = {}
fixed_eta = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
fixed_uuid = uuid.UUID('12345678-1234-5678-1234-567812345678')


def task(name, args, kwargs=None, expect_args=None, expect_kwargs=None, **options):
    r = app.send_task('pusher.send_to_s3', args=args, kwargs=kwargs or {}, queue=task_queue, serializer='json', **options)
    manifest[name] = {'kind': 'task', 'id': r.id, 'args': expect_args or list(args), 'kwargs': expect_kwargs or kwargs or {}}


task('task-plain', ('path/to/file.json', '{"a": 1}'))
task('task-unicode', ('ключ/ü.json', 'snowman ☃'))
task('task-options', ('k', 'c'), {'extra': True}, eta=fixed_eta, expires=fixed_eta + timedelta(hours=1),
     retries=200, time_limit=300, soft_time_limit=240, priority=5, task_id='fixed-id-options', ignore_result=True)
task('task-countdown', ('k', 'c'), countdown=30)

# Values a Python caller may pass that JSON has no type for; what a TypeScript handler must see for each.
typed_kwargs = {'when': fixed_eta, 'day': fixed_eta.date(), 'at': fixed_eta.timetz().replace(tzinfo=None), 'amount': Decimal('1.10')}
if TYPED_JSON:
    typed_kwargs.update(raw=b'plain bytes', blob=b'\xff\x00\x01')  # kombu 5.2 cannot send bytes at all
task('task-types', (fixed_uuid, Decimal('9.99')), typed_kwargs,
     expect_args=[str(fixed_uuid), '9.99'],
     expect_kwargs={
         'when': '2030-01-02T03:04:05.678901+00:00' if TYPED_JSON else '2030-01-02T03:04:05.678901Z',
         'day': '2030-01-02' if TYPED_JSON else '2030-01-02T00:00:00',
         'at': '03:04:05.678901',
         'amount': '1.10',
         **({'raw': 'plain bytes', 'blob': '/wAB'} if TYPED_JSON else {}),
     })

if TYPED_JSON:
    # Celery 5.3+ stamping: stamped_headers names the stamps, which travel in `stamps` and as headers of their own.
    from celery.canvas import StampingVisitor

    class Tenant(StampingVisitor):
        def on_signature(self, sig, **headers):
            return {'tenant': 'acme', 'budget': 300, 'route': [1, 200]}

    sig = send_to_s3.s('stamped/file.json', 'c').set(queue=task_queue)
    sig.stamp(visitor=Tenant())
    r = sig.apply_async(serializer='json')
    manifest['task-stamped'] = {'kind': 'task', 'id': r.id, 'args': ['stamped/file.json', 'c'], 'kwargs': {}}


def reply(name, tid, store, result=None):
    store(Context(id=tid, reply_to=reply_queue, correlation_id=tid))
    manifest[name] = {'kind': 'reply', 'id': tid, **({'result': result} if result is not None else {})}


reply('reply-success', 'reply-id-success',
      lambda req: app.backend.mark_as_done(req.id, {'bucket': 'b', 'key': 'k', 'etag': 'e'}, request=req))
try:
    raise ValueError('disk on fire')
except ValueError as exc:
    reply('reply-failure', 'reply-id-failure',
          lambda req: app.backend.mark_as_failure(req.id, exc, traceback='Traceback...\nValueError: disk on fire', request=req))
reply('reply-revoked', 'reply-id-revoked', lambda req: app.backend.mark_as_revoked(req.id, 'expired', request=req))
reply('reply-types', 'reply-id-types',
      lambda req: app.backend.mark_as_done(req.id, {'id': fixed_uuid, 'amount': Decimal('9.99'), 'at': fixed_eta}, request=req),
      result={'id': str(fixed_uuid), 'amount': '9.99',
              'at': '2030-01-02T03:04:05.678901+00:00' if TYPED_JSON else '2030-01-02T03:04:05.678901Z'})

print(json.dumps(manifest))
