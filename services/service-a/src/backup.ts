import type { Backup } from '@taskbus-example/kit';
import type { TaskClient } from '@taskbus/runtime';
import { createPusherClient } from 'pusher-bindings';

/** Service A backs items up through v1 of the pusher contract: key and content only. */
export function serviceABackup(client: TaskClient): Backup {
  const pusher = createPusherClient(client);
  return async (item) => (await pusher.sendToS3(`service-a/items/${item.id}.json`, JSON.stringify(item))).id;
}
