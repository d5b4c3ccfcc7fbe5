"""Publishes real Celery 5.2 task messages and rpc replies for test/fixtures/capture.ts to record.

Usage: python3 publish_fixtures.py <task-queue> <reply-queue>
Prints a JSON manifest: fixture name -> task id and what the message must decode to.
"""
import json
import os
import sys
from datetime import datetime, timedelta, timezone

from celery import Celery
from celery.app.task import Context

task_queue, reply_queue = sys.argv[1], sys.argv[2]
app = Celery('pusher', broker=os.environ.get('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672'), backend='rpc://')
app.conf.update(task_serializer='json', result_serializer='json', accept_content=['json'])


@app.task(name='pusher.send_to_s3')
def send_to_s3(key, content):
    pass


manifest = {}
fixed_eta = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


def task(name, args, kwargs=None, **options):
    r = app.send_task('pusher.send_to_s3', args=args, kwargs=kwargs or {}, queue=task_queue, serializer='json', **options)
    manifest[name] = {'kind': 'task', 'id': r.id, 'args': list(args), 'kwargs': kwargs or {}}


task('task-plain', ('path/to/file.json', '{"a": 1}'))
task('task-unicode', ('ключ/ü.json', 'snowman ☃'))
task('task-options', ('k', 'c'), {'extra': True}, eta=fixed_eta, expires=fixed_eta + timedelta(hours=1),
     retries=200, time_limit=300, soft_time_limit=240, priority=5, task_id='fixed-id-options', ignore_result=True)
task('task-countdown', ('k', 'c'), countdown=30)


def reply(name, tid, store):
    store(Context(id=tid, reply_to=reply_queue, correlation_id=tid))
    manifest[name] = {'kind': 'reply', 'id': tid}


reply('reply-success', 'reply-id-success',
      lambda req: app.backend.mark_as_done(req.id, {'bucket': 'b', 'key': 'k', 'etag': 'e'}, request=req))
try:
    raise ValueError('disk on fire')
except ValueError as exc:
    reply('reply-failure', 'reply-id-failure',
          lambda req: app.backend.mark_as_failure(req.id, exc, traceback='Traceback...\nValueError: disk on fire', request=req))
reply('reply-revoked', 'reply-id-revoked', lambda req: app.backend.mark_as_revoked(req.id, 'expired', request=req))

print(json.dumps(manifest))
