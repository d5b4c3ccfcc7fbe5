import { startItemService, type Backup, type ItemService } from '@taskbus-example/kit';
import type { TaskClient } from '@taskbus/runtime';
import { createTestBus, type TestBus } from '@taskbus/runtime/testing';

/** An example item service whose backups go to a fresh in-memory bus, started before and closed after each test. */
export function itemServiceOnBus(name: string, makeBackup: (client: TaskClient) => Backup) {
  const s = {} as { bus: TestBus; service: ItemService };
  beforeEach(async () => {
    s.bus = createTestBus();
    s.service = await startItemService({ name, port: 0, backup: makeBackup(s.bus.client) });
  });
  afterEach(async () => {
    await s.service.close();
    await s.bus.close();
  });
  return {
    get bus(): TestBus {
      return s.bus;
    },
    url: (id: string) => `${s.service.url}/items/${id}`,
    put: (id: string, body: unknown) => fetch(`${s.service.url}/items/${id}`, { method: 'PUT', body: JSON.stringify(body) }),
  };
}
