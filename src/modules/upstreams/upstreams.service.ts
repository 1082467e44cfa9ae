import { prisma } from '../../db.js';
import type { TrafficProduct } from '../../generated/prisma/client.js';
import { bus } from '../../bus.js';
import { NotFoundError, ValidationError } from '../../lib/errors.js';
import { runtime } from '../../runtime.js';

export interface NewUpstream {
  pool: string;
  product: TrafficProduct;
  host: string;
  port: number;
  username?: string | null;
  password?: string | null;
  countryCode?: string | null;
}

/** Adds a SOCKS5 exit to a pool (created on first use); the password is stored encrypted. */
export async function addUpstream(input: NewUpstream) {
  if (!input.pool.trim()) throw new ValidationError('pool', 'pool name is required.');
  if (!input.host.trim()) throw new ValidationError('host', 'host is required.');
  if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535) throw new ValidationError('port', 'port must be 1–65535.');
  if (input.countryCode && !/^[A-Za-z]{2}$/.test(input.countryCode)) throw new ValidationError('countryCode', 'countryCode must be two letters.');
  if (input.product === 'browser') throw new ValidationError('product', 'upstream pools serve the shared or dedicated product.');
  const pool = await prisma.upstreamPool.upsert({ where: { name: input.pool.trim() }, update: {}, create: { name: input.pool.trim(), product: input.product } });
  if (pool.product !== input.product) throw new ValidationError('product', `pool ${pool.name} serves the ${pool.product} product.`);
  const upstream = await prisma.upstream.create({
    data: {
      poolId: pool.id,
      host: input.host.trim(),
      port: input.port,
      username: input.username ?? null,
      password: input.password ? runtime().secrets.encrypt(input.password) : null,
      countryCode: input.countryCode?.toUpperCase() ?? null,
    },
  });
  void bus.publish('upstreams:changed', {});
  return upstream;
}

export async function removeUpstream(id: number) {
  const found = await prisma.upstream.findUnique({ where: { id } });
  if (!found) throw new NotFoundError('Upstream');
  await prisma.upstream.delete({ where: { id } });
  void bus.publish('upstreams:changed', {});
}

export async function listUpstreams() {
  return prisma.upstream.findMany({ include: { pool: true }, orderBy: { id: 'asc' } });
}
