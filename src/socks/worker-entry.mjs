// The SOCKS worker thread's entry: like bin/relais.mjs, it runs the TypeScript sources through
// tsx, whose loader a worker thread does not inherit from the thread that starts it.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
