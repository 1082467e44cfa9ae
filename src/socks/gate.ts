import { sha256 } from '../lib/secrets.js';
import { DialError } from './dial.js';
import type { KeyStore, ProxyKey } from './key-store.js';
import type { Meter } from './metering.js';
import { Reply } from './protocol.js';
import type { AuthDecision, Grant, Product, Route, SocksGate } from './types.js';
import { NoExitError, type Upstreams } from './upstreams.js';
import { parseProxyUsername, type ProxyUsername } from './username.js';

const MAX_CACHED_GRANTS = 50_000;
const REFUSED_AUTH: AuthDecision = { ok: false, reason: 'auth' };
const NOT_ALLOWED: AuthDecision = { ok: false, reason: 'not_allowed' };

/**
 * Decides every SOCKS5 connection from memory: the username's key must be an active key
 * with the proxy scope, and its credit not known to be exhausted. Parsed usernames and grants
 * are cached per username and product, so a connection costs two map lookups and no hashing.
 */
export function createGate(keys: Pick<KeyStore, 'peek'>, meter: Meter, upstreams: Upstreams) {
  const grants = new Map<string, { hash: string; parsed: ProxyUsername; key: ProxyKey | null; grant: Grant | null }>();

  function makeGrant(key: ProxyKey, parsed: ProxyUsername, product: Product): Grant {
    const routeRequest = { product, keyId: key.id, country: parsed.country, session: parsed.session, lifetimeMinutes: parsed.lifetimeMinutes };
    const pick = (admitted: boolean): Route => {
      if (!admitted) throw new DialError(Reply.NotAllowed, 'credit exhausted');
      try {
        return upstreams.route(routeRequest);
      } catch (err) {
        if (err instanceof NoExitError) throw new DialError(Reply.NotAllowed, err.message);
        throw err;
      }
    };
    return {
      key: String(key.id),
      // Synchronous when the meter has the key's state: no promise per connection.
      route() {
        const admitted = meter.admit(key);
        return typeof admitted === 'boolean' ? pick(admitted) : admitted.then(pick);
      },
      open: (conn) => meter.open(key, product, conn),
      close: (conn) => meter.close(key, conn),
      charge: (bytes) => meter.charge(key, product, bytes),
      reportUpstreamFailure: (id) => upstreams.markFailed(id),
    };
  }

  const gate: SocksGate = {
    authorize(username, product) {
      const id = `${product}\u0000${username}`;
      let cached = grants.get(id);
      if (cached === undefined) {
        const parsed = parseProxyUsername(username);
        if (!parsed) return REFUSED_AUTH;
        cached = { hash: sha256(parsed.key), parsed, key: null, grant: null };
        if (grants.size >= MAX_CACHED_GRANTS) grants.clear();
        grants.set(id, cached);
      }
      // The key object changes identity whenever the key changes, which rebuilds the grant.
      const key = keys.peek(cached.hash);
      if (!key || (key.scopes.length > 0 && !key.scopes.includes('proxy'))) return REFUSED_AUTH;
      if (key !== cached.key || !cached.grant) {
        cached.key = key;
        cached.grant = makeGrant(key, cached.parsed, product);
      }
      if (meter.exhausted(key)) return NOT_ALLOWED;
      return { ok: true, grant: cached.grant };
    },
  };

  return { gate };
}
