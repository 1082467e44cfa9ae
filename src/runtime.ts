import type { Config } from './config.js';
import { createSecrets, type Secrets } from './lib/secrets.js';

/**
 * Process-wide settings that services need (links in mails, derived keys). Set once by
 * `buildApp` or the CLI, like the Prisma client in db.ts.
 */
export interface Runtime {
  config: Config;
  secrets: Secrets;
}

let current: Runtime | null = null;

export function initRuntime(config: Config): Runtime {
  current = { config, secrets: createSecrets(config.appSecret) };
  return current;
}

export function runtime(): Runtime {
  if (!current) throw new Error('runtime not initialised: call initRuntime(config) first');
  return current;
}
