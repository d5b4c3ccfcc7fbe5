export { runItemService, type Backup, type Item } from './item-service.js';
export { envInt, main, metricsFromEnv } from './main.js';
