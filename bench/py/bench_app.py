"""The Celery side of bench/celery-peer.ts: bench.echo(body, n) on one queue, declared as taskbus declares it.

Started by the bench: python3 -m celery -A bench_app worker -Q <queue> --pool prefork -c 2
BENCH_QUEUE, BENCH_QUEUE_ARGS (JSON), BENCH_EXCHANGE_TYPE: the queue and how taskbus declares it.
BENCH_COUNT, BENCH_DONE: when the count-th task has run, its time (epoch ms) is written to the file BENCH_DONE.
BENCH_PREFETCH: messages in flight for the whole worker, as the taskbus consumer's prefetch.
"""
import json
import multiprocessing
import os
import time

from celery import Celery
from celery.signals import worker_ready
from kombu import Exchange, Queue

QUEUE = os.environ['BENCH_QUEUE']
COUNT = int(os.environ['BENCH_COUNT'])
DONE = os.environ['BENCH_DONE']
CONCURRENCY = 2

app = Celery('bench', broker=os.environ.get('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672'))
app.conf.update(
    task_serializer='json',
    accept_content=['json'],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=max(1, int(os.environ.get('BENCH_PREFETCH', '100')) // CONCURRENCY),
    task_queues=[
        Queue(QUEUE, Exchange(QUEUE, os.environ.get('BENCH_EXCHANGE_TYPE', 'direct')), routing_key=QUEUE,
              queue_arguments=json.loads(os.environ.get('BENCH_QUEUE_ARGS') or '{}')),
    ],
)

# Made before the worker forks its pool, so both children count into the same shared integer.
handled = multiprocessing.Value('q', 0)


@app.task(name='bench.echo')
def echo(body, n):
    with handled.get_lock():
        handled.value += 1
        last = handled.value == COUNT
    if last:
        with open(DONE + '.part', 'w') as f:
            f.write(str(time.time() * 1000))
        os.rename(DONE + '.part', DONE)  # the bench never reads a half-written file
    return n


@worker_ready.connect
def ready(**_):
    print('bench-ready', flush=True)
