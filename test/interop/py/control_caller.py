"""A Python Celery client using remote control against the fleet; prints one JSON line.

Usage: python3 control_caller.py <scenario> [args...]
  send-and-revoke <queue>   send pusher.send_to_s3 with a 3 s countdown, app.control.revoke it, AsyncResult.get()
  revoke <id>               app.control.revoke(id) (a broadcast without replies, as Python code calls it)
  inspect <command>         app.control.inspect().<command>() as a dict {node: reply}
"""
import json
import sys

import celery

from fleet import create_app

app = create_app('caller')
app.set_default()

scenario = sys.argv[1]
seen = {'celery': celery.__version__}

if scenario == 'send-and-revoke':
    r = app.send_task('pusher.send_to_s3', args=('py/revoked.json', 'never'), queue=sys.argv[2], countdown=3)
    app.control.revoke(r.id)
    try:
        value = r.get(timeout=20)
        print(json.dumps({**seen, 'id': r.id, 'ok': True, 'value': value, 'state': r.state}))
    except Exception as e:  # the point is to report what Celery raised
        print(json.dumps({**seen, 'id': r.id, 'ok': False, 'type': type(e).__name__, 'message': str(e), 'state': r.state}))
elif scenario == 'revoke':
    app.control.revoke(sys.argv[2])
    print(json.dumps(seen))
elif scenario == 'inspect':
    replies = getattr(app.control.inspect(timeout=float(sys.argv[3]) if len(sys.argv) > 3 else 1.0), sys.argv[2])()
    print(json.dumps({**seen, 'replies': replies or {}}))
else:
    raise SystemExit(f'unknown scenario {scenario}')
