export { createSocksServer } from './server.js';
export { createEgressPolicy, type EgressPolicy } from './egress.js';
export type {
  AuthDecision,
  ByteCounts,
  Grant,
  Logger,
  MeteredConnection,
  Product,
  Resolver,
  Route,
  SocksGate,
  SocksServer,
  SocksServerOptions,
  SocksServerStats,
  UpstreamId,
  UpstreamRoute,
} from './types.js';
