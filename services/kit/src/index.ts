export { runItemService, type Backup, type Item } from './item-service.js';
export { envInt, main } from './main.js';
