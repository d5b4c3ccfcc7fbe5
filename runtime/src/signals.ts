import type { Worker } from './worker.js';

/**
 * Starts a worker and stops it gracefully on SIGINT/SIGTERM: consuming stops, running handlers finish
 * and ack, then the connection closes. Resolves when the worker has stopped; rejects if it lost the broker.
 */
export async function runWorker(worker: Worker): Promise<void> {
  const stop = () => void worker.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await worker.start();
    await worker.done;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
