"""Celery 5.5+ (run with the vendored 5.6.3) on one quorum queue behind a topic exchange, as a 5.6 fleet declares it.

RED10_QUEUE names the queue; RED10_ARGS (JSON) the queue's arguments (default: only x-queue-type quorum).
"""
import json
import os
import sys
import time

from celery import Celery
from kombu import Exchange, Queue

QUEUE = os.environ['RED10_QUEUE']
ARGS = json.loads(os.environ.get('RED10_ARGS') or '{"x-queue-type": "quorum"}')

app = Celery('red10', broker=os.environ.get('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672'), backend='rpc://')
app.conf.update(
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_default_queue_type='quorum',
    worker_detect_quorum_queues=True,
    task_queues=[Queue(QUEUE, Exchange(QUEUE, type='topic'), routing_key=QUEUE, queue_arguments=ARGS)],
    task_default_queue=QUEUE,
)


@app.task(name='red10.echo')
def echo(n):
    print(f'RED10 ran {n} at {time.time()}', flush=True)
    return n


if __name__ == '__main__':
    # Caller: red10_app.py <n> <countdown>; prints the result and the seconds it took.
    n, countdown = int(sys.argv[1]), float(sys.argv[2])
    started = time.time()
    r = app.send_task('red10.echo', args=[n], queue=app.amqp.queues[QUEUE], countdown=countdown)
    print(json.dumps({'result': r.get(timeout=60), 'seconds': time.time() - started}), flush=True)
