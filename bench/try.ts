import { flow } from './flow.js';
const modes = (process.argv[2] ?? 'raw-plain,raw-celery,taskbus').split(',') as ('taskbus')[];
for (const mode of modes) console.log(mode, await flow({ mode, count: Number(process.argv[3] ?? 20000) }));
