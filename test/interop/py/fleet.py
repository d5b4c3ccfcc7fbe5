"""Settings every Python app of the interop tests shares, so callers and workers form one fleet.

INTEROP_QUEUE_TYPE=quorum makes it a Celery 5.5+ fleet on quorum queues: queues it creates (the default one and
any named with -Q or queue=) are quorum with a topic exchange of the same name, and countdown/eta go through
native delayed delivery (celery_delayed_27..0), which needs a non-direct exchange. INTEROP_QUEUE_ARGS
({"queue": {arguments}}) declares those queues with the arguments the service that created them chose.
"""
import json
import os
import socket
from contextlib import contextmanager

import celery
from celery import Celery
from kombu import Exchange, Queue


def _poll_timeouts_are_not_lost_connections():
    """Celery 5.6.3's rpc result consumer took each 1 s poll timeout of get() for a lost connection and
    reconnected, dropping replies that arrived meanwhile, whatever the worker (celery/celery#10284). Applies
    the upstream fix (celery/celery#10285) so these tests see taskbus, not that regression."""
    from celery.backends import asynchronous

    def reconnect_on_error(self):
        try:
            yield
        except socket.timeout:
            raise
        except self._connection_errors:
            try:
                self._reconnect()
            except self._connection_errors as exc:
                raise RuntimeError(asynchronous.E_RETRY_LIMIT_EXCEEDED) from exc

    asynchronous.BaseResultConsumer.reconnect_on_error = contextmanager(reconnect_on_error)


if celery.__version__ == '5.6.3':
    _poll_timeouts_are_not_lost_connections()


def create_app(name):
    app = Celery(name, broker=os.environ.get('AMQP_URL', 'amqp://guest:guest@127.0.0.1:5672'), backend='rpc://')
    app.conf.update(
        task_serializer='json',
        result_serializer='json',
        accept_content=['json'],
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )
    if os.environ.get('INTEROP_QUEUE_TYPE') == 'quorum':
        app.conf.update(
            task_default_queue_type='quorum',
            task_create_missing_queue_type='quorum',
            task_create_missing_queue_exchange_type='topic',
            broker_native_delayed_delivery_queue_type='quorum',
            worker_detect_quorum_queues=True,
            broker_transport_options={'confirm_publish': True},
        )
    # Queues another service created, with the arguments it chose: declared the same way, or RabbitMQ refuses
    # the declaration (406) that Celery makes before each publish.
    declared = json.loads(os.environ.get('INTEROP_QUEUE_ARGS') or '{}')
    if declared:
        app.conf.task_queues = [
            Queue(name, Exchange(name, 'topic'), routing_key=name, queue_arguments=arguments)
            for name, arguments in declared.items()
        ]
    return app
