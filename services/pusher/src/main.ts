import { createWorker, runWorker } from '@taskbus/runtime';
import { envInt, main, metricsFromEnv } from '@taskbus-example/kit';
import { bindPusherHandlers } from 'pusher-bindings';
import { createPusherHandlers } from './handlers.js';
import { assertBucket, createS3Client, s3ConfigFromEnv } from './s3.js';

// The pusher worker: serves every version of the pusher contract on its queue until SIGINT/SIGTERM.
main('pusher', async () => {
  const config = s3ConfigFromEnv();
  const s3 = createS3Client(config);
  await assertBucket(s3, config);
  // Logs as LOG_FORMAT and LOG_LEVEL ask (the worker's default logger); metrics on METRICS_PORT when set.
  const metrics = metricsFromEnv();
  const worker = createWorker({ prefetch: envInt('PREFETCH', 16), connectionName: 'pusher', ...(metrics ? { metrics } : {}) });
  bindPusherHandlers(worker, createPusherHandlers(s3, config.bucket));
  await runWorker(worker);
  s3.destroy();
});
