import { main, runItemService } from '@taskbus-example/kit';
import { serviceBBackup } from './backup.js';

main('service-b', () => runItemService('service-b', 3002, serviceBBackup));
