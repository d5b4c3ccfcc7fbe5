import type { Backup } from '@taskbus-example/kit';
import type { TaskClient } from '@taskbus/runtime';
import { createPusherClient } from 'pusher-bindings';

/** Service B uses the version delegate: version 2, with a content type and tags. */
export function serviceBBackup(client: TaskClient): Backup {
  const pusher = createPusherClient(client);
  return async (item) => {
    const meta = { contentType: 'application/json', tags: { service: 'service-b', item: item.id } };
    return (await pusher.delegateSendToS3(2, `service-b/items/${item.id}.json`, JSON.stringify(item), meta)).id;
  };
}
