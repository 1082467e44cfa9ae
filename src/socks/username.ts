/**
 * The SOCKS5 username carries the API key and, like the big providers' syntax, options:
 *   lpf_<32 hex>[-session-<id>][-lifetime-<minutes>][-country-<cc>]
 * in any order after the key. `session` keeps the same upstream exit for the session's
 * lifetime (default 10 minutes, 1–1440); `country` picks an exit in that country (ISO 3166-1
 * alpha-2). Anything else is refused.
 */
export interface ProxyUsername {
  key: string;
  session: string | null;
  lifetimeMinutes: number;
  country: string | null;
}

export const DEFAULT_SESSION_MINUTES = 10;
const KEY = /^lpf_[0-9a-f]{32}$/;
const SESSION = /^[A-Za-z0-9_]{1,64}$/;

export function parseProxyUsername(username: string): ProxyUsername | null {
  const parts = username.split('-');
  const key = parts[0]!;
  if (!KEY.test(key) || parts.length % 2 !== 1) return null;
  const result: ProxyUsername = { key, session: null, lifetimeMinutes: DEFAULT_SESSION_MINUTES, country: null };
  const seen = new Set<string>();
  for (let i = 1; i < parts.length; i += 2) {
    const name = parts[i]!.toLowerCase();
    const value = parts[i + 1]!;
    if (seen.has(name)) return null;
    seen.add(name);
    if (name === 'session' && SESSION.test(value)) result.session = value;
    else if (name === 'country' && /^[A-Za-z]{2}$/.test(value)) result.country = value.toUpperCase();
    else if (name === 'lifetime' && /^\d{1,4}$/.test(value) && +value >= 1 && +value <= 1440) result.lifetimeMinutes = +value;
    else return null;
  }
  if (seen.has('lifetime') && !result.session) return null;
  return result;
}
