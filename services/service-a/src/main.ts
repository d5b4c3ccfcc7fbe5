import { main, runItemService } from '@taskbus-example/kit';
import { createPusherClient } from 'pusher-bindings';

// Service A backs items up through v1 of the pusher contract: key and content only.
main('service-a', () =>
  runItemService('service-a', 3001, (client) => {
    const pusher = createPusherClient(client);
    return async (item) => (await pusher.sendToS3(`service-a/items/${item.id}.json`, JSON.stringify(item))).id;
  }),
);
