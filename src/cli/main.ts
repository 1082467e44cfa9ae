import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { connectDatabase } from '../db.js';
import { connectBus } from '../bus.js';
import { initRuntime } from '../runtime.js';
import { createLogger, setLogger } from '../lib/logger.js';
import { AppError } from '../lib/errors.js';
import { parseMoney, formatMoney } from '../lib/money.js';
import { buildApp } from '../server.js';
import { createAdmin, findUserByEmail, listUsers } from '../modules/admin/admin.service.js';
import { adjustBalance } from '../modules/ledger/ledger.service.js';
import { listKeys } from '../modules/keys/keys.service.js';
import { addUpstream, listUpstreams, removeUpstream } from '../modules/upstreams/upstreams.service.js';
import { listPricingGrids, listTrafficPrices, seedPricing, setPricingTiers, setTrafficPrice, type Tier } from '../modules/pricing/pricing.service.js';
import { TrafficProduct } from '../generated/prisma/enums.js';
import { keyPreview } from '../modules/keys/key-format.js';

const USAGE = `relais — the Relais server and its admin chores

  relais serve                                   start everything (what npm start runs)
  relais migrate                                 apply pending database migrations
  relais admin create --email E --password P     create an administrator (or promote E)
  relais credit --email E --amount A --note N    add A to E's balance (an adjustment transaction)
  relais debit  --email E --amount A --note N    take A from E's balance
  relais users list [--search S]                 list accounts
  relais keys list --email E                     list E's API keys (previews only)
  relais pricing show                            list prices per GB and the pricing grids
  relais pricing set-price --product P --price X set P's list price per GB (P: shared, dedicated, browser)
  relais pricing set-tiers --grid G --tiers T    replace G's tiers (created when new); T is min:rate,…
                                                 e.g. --tiers 0:1,100:0.9,500:0.8
  relais upstreams list                          list upstream SOCKS5 exits and their health
  relais upstreams add --pool N --product P --host H --port N [--username U --password S] [--country CC]
                                                 add an exit to pool N (created on first use)
  relais upstreams remove --id N                 remove an exit

Configuration comes from the environment (PORT, DATABASE_URL, DATA_DIR, …; see README).`;

class UsageError extends Error {}

function required(values: Record<string, string | boolean | undefined>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** Opens the database for a one-off command (no HTTP, no jobs), with the defaults a start seeds. */
async function withDatabase<T>(config: Config, run: () => Promise<T>): Promise<T> {
  setLogger(createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel));
  initRuntime(config);
  const db = await connectDatabase(config);
  // With Redis, what a command changes (a credit, an upstream) reaches the running instances.
  const busConnection = await connectBus({ redisUrl: config.redisUrl, redisPrefix: config.redisPrefix });
  try {
    await seedPricing();
    return await run();
  } finally {
    await busConnection.close();
    await db.close();
  }
}

const table = (rows: Record<string, unknown>[]) => {
  if (!rows.length) return console.log('(none)');
  console.table(rows);
};

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      email: { type: 'string' },
      password: { type: 'string' },
      amount: { type: 'string' },
      note: { type: 'string' },
      search: { type: 'string' },
      product: { type: 'string' },
      price: { type: 'string' },
      grid: { type: 'string' },
      tiers: { type: 'string' },
      pool: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      username: { type: 'string' },
      country: { type: 'string' },
      id: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const command = positionals.join(' ');
  if (values.help || !command) return console.log(USAGE);
  const config = loadConfig();

  switch (command) {
    case 'serve': {
      const app = await buildApp(config);
      await app.start();
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        console.error(`${signal}: shutting down`);
        app.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            console.error(err);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      return;
    }
    case 'migrate':
      return withDatabase(config, async () => {});
    case 'admin create':
      return withDatabase(config, async () => {
        const user = await createAdmin({ email: required(values, 'email'), password: required(values, 'password') });
        console.log(`admin ${user.email} (id ${user.id}) ready`);
      });
    case 'credit':
    case 'debit': {
      const email = required(values, 'email');
      const note = required(values, 'note');
      const amount = parseMoney(required(values, 'amount'));
      if (!amount || !amount.isPositive()) throw new UsageError('--amount must be a positive amount with at most 6 decimals');
      return withDatabase(config, async () => {
        const user = await findUserByEmail(email);
        const row = await adjustBalance({ userId: user.id, amount: command === 'debit' ? amount.negated() : amount, note, actorId: null });
        console.log(`${command}ed ${formatMoney(amount)} ${command === 'debit' ? 'from' : 'to'} ${user.email}; balance ${formatMoney(row.balanceAfter!)} (transaction ${row.id})`);
      });
    }
    case 'users list':
      return withDatabase(config, async () => {
        const users = await listUsers(values.search);
        table(users.map((u) => ({ id: u.id, username: u.username, email: u.email, role: u.role, verified: !!u.emailVerifiedAt, balance: formatMoney(u.balance) })));
      });
    case 'keys list':
      return withDatabase(config, async () => {
        const user = await findUserByEmail(required(values, 'email'));
        const keys = await listKeys(user.id);
        table(keys.map((k) => ({ id: k.id, name: k.name, key: keyPreview(k.prefix), active: k.active, daily: k.dailyLimit?.toFixed() ?? null, weekly: k.weeklyLimit?.toFixed() ?? null, monthly: k.monthlyLimit?.toFixed() ?? null, last_used_at: k.lastUsedAt?.toISOString() ?? null })));
      });
    case 'pricing show':
      return withDatabase(config, async () => {
        const prices = await listTrafficPrices();
        table(prices.map((p) => ({ product: p.product, label: p.label, price_per_gb: formatMoney(p.pricePerGb) })));
        const grids = await listPricingGrids();
        table(grids.flatMap((g) => g.tiers.map((t) => ({ grid: g.name, default: g.isDefault, min_credits: formatMoney(t.minCredits), rate: t.rate.toFixed() }))));
      });
    case 'pricing set-price': {
      const product = required(values, 'product');
      const products: string[] = Object.values(TrafficProduct);
      if (!products.includes(product)) throw new UsageError(`--product must be one of ${products.join(', ')}`);
      const price = parseMoney(required(values, 'price'));
      if (!price) throw new UsageError('--price must be an amount with at most 6 decimals');
      return withDatabase(config, async () => {
        const row = await setTrafficPrice(product as TrafficProduct, price);
        console.log(`${row.product} (${row.label}): ${formatMoney(row.pricePerGb)} per GB`);
      });
    }
    case 'pricing set-tiers': {
      const grid = required(values, 'grid');
      const tiers = required(values, 'tiers').split(',').map((pair): Tier => {
        const [min, rate, extra] = pair.split(':').map((part) => parseMoney(part));
        if (!min || !rate || extra !== undefined) throw new UsageError(`--tiers must be min:rate pairs separated by commas, e.g. 0:1,100:0.9 (got "${pair}")`);
        return { minCredits: min, rate };
      });
      return withDatabase(config, async () => {
        const saved = await setPricingTiers(grid, tiers);
        console.log(`grid ${saved.name}: ${saved.tiers.map((t) => `${t.minCredits.toFixed()}:${t.rate.toFixed()}`).join(', ')}`);
      });
    }
    case 'upstreams list':
      return withDatabase(config, async () => {
        const rows = await listUpstreams();
        table(rows.map((u) => ({ id: u.id, pool: u.pool.name, product: u.pool.product, host: u.host, port: u.port, country: u.countryCode, healthy: u.healthy, fails: u.failCount, last_error: u.lastError })));
      });
    case 'upstreams add': {
      const product = required(values, 'product');
      if (product !== 'shared' && product !== 'dedicated') throw new UsageError('--product must be shared or dedicated');
      const port = Number(required(values, 'port'));
      const input = {
        pool: required(values, 'pool'),
        product: product as TrafficProduct,
        host: required(values, 'host'),
        port,
        username: values.username ?? null,
        password: values.password ?? null,
        countryCode: values.country ?? null,
      };
      return withDatabase(config, async () => {
        const u = await addUpstream(input);
        console.log(`upstream ${u.id}: ${u.host}:${u.port} in pool ${input.pool}`);
      });
    }
    case 'upstreams remove': {
      const id = Number(required(values, 'id'));
      if (!Number.isSafeInteger(id) || id < 1) throw new UsageError('--id must be an upstream id');
      return withDatabase(config, async () => {
        await removeUpstream(id);
        console.log(`upstream ${id} removed`);
      });
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) console.error(`relais: ${err.message}\n\n${USAGE}`);
  else if (err instanceof ConfigError || err instanceof AppError) console.error(`relais: ${err.message}`);
  else if (err instanceof Error && err.name === 'TypeError' && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) console.error(`relais: ${err.message}\n\n${USAGE}`);
  else console.error(err);
  process.exit(1);
});
