import { main, runItemService } from '@taskbus-example/kit';
import { serviceABackup } from './backup.js';

main('service-a', () => runItemService('service-a', 3001, serviceABackup));
