"""A Celery caller of a quorum contract's generated bindings (ledger_bindings); prints one JSON line.

Usage: python3 quorum_caller.py <queue> <scenario>
ledger_bindings must be on PYTHONPATH, and so must Celery: Debian's 5.2, or 5.6 from the vendor bundle.
Each scenario sends the way a Celery user would; Celery declares the queue on publish every time.
"""
import json
import os
import sys

import celery
from celery import Celery

queue, scenario = sys.argv[1], sys.argv[2]
app = Celery('quorum-caller', broker=os.environ.get('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672'), backend='rpc://')
app.conf.update(task_serializer='json', result_serializer='json', accept_content=['json'])
app.set_default()
import ledger_bindings as m  # noqa: E402 (binds to the default app above)


def outcome(send):
    try:
        return {'ok': True, 'value': send().get(timeout=20)}
    except Exception as e:  # the point is to report what Celery raised, a 406 included
        return {'ok': False, 'type': type(e).__name__, 'message': str(e)}


# One scenario per process: kombu remembers a declared queue by name for the connection, so a scenario run
# after another could skip its own declaration and pass for the wrong reason.
if scenario == 'delegates':
    # Nothing configured: the delegates use the module's QUEUES themselves.
    report = {
        'delegate v1': outcome(lambda: m.delegate_store('q/delegate-v1', 'one')),
        'delegate v2': outcome(lambda: m.delegate_store('q/delegate-v2', 'two', version=2, tag='t')),
    }
elif scenario == 'apply_async':
    # Nothing configured: apply_async maps the queue name to its Queue in QUEUES.
    report = {'apply_async by name': outcome(lambda: m.store.apply_async(('q/by-name', 'three'), queue=queue, serializer='json'))}
elif scenario == 'task_queues':
    # The README's set-up: QUEUES in task_queues, then a plain send_task by queue name, bindings unused.
    app.conf.task_queues = m.QUEUES
    report = {'send_task by name': outcome(lambda: app.send_task('ledger.store', args=('q/send-task', 'four'), queue=queue, serializer='json'))}
elif scenario == 'without-bindings':
    # What a caller without the bindings does: Celery declares the queue classic, argument-free.
    @app.task(name='ledger.store')
    def store(key, content):
        pass

    report = {'plain apply_async': outcome(lambda: store.apply_async(('q/plain', 'five'), queue=queue, serializer='json'))}
else:
    raise SystemExit('unknown scenario %r' % scenario)

print(json.dumps({'celery': celery.__version__, 'report': report}))
