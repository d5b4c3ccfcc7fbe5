export { runItemService, startItemService, type Backup, type Item, type ItemService, type ItemServiceOptions } from './item-service.js';
export { envInt, main, metricsFromEnv } from './main.js';
