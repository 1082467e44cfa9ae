/**
 * Where the time goes in a V8 CPU profile (`node --cpu-prof`): self time per function and per
 * area (Relais socks code, Node's net/stream internals, metering, GC, …).
 *
 *   npx tsx bench/cpuprofile-top.ts FILE.cpuprofile [N=25]
 *
 * bench/socks.ts calls `summarizeProfile` on the profiles it asks for with BENCH_PROFILE.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Rough areas, first match wins: enough to say whether time is ours, Node's or the kernel's. */
const AREAS: [string, (url: string, fn: string) => boolean][] = [
  ['GC', (_u, f) => f === '(garbage collector)'],
  ['V8/native outside JS (program)', (_u, f) => f === '(program)'],
  ['native bindings (write, connect, close, …)', (u) => u === ''],
  ['relais metering', (u) => u.includes('/src/socks/metering') || u.includes('/src/modules/usage') || u.includes('/src/modules/ledger')],
  ['relais gate + key cache', (u) => u.includes('/src/socks/gate') || u.includes('/src/modules/keys') || u.includes('/src/socks/username')],
  ['relais socks (connection, relay, protocol, dial)', (u) => u.includes('/src/socks/')],
  ['relais other src', (u) => u.includes('/src/')],
  ['bench relay', (u) => u.includes('/bench/')],
  ['database (pglite, prisma)', (u) => /pglite|prisma|@electric-sql|^wasm:/.test(u)],
  ['node net / stream / timers', (u) => /^node:(net|stream|internal\/(stream|streams|net|timers|process\/task_queues)|timers|events|internal\/event)/.test(u)],
  ['node other internals', (u) => u.startsWith('node:')],
  ['other JS (node_modules, tsx)', () => true],
];

/**
 * Self time by area and by function. With `windows` (CLOCK_MONOTONIC microseconds, the clock
 * V8 stamps samples with, as `process.hrtime` reads it), only samples inside them count.
 */
export function summarizeProfile(file: string, options: { top?: number; windows?: [number, number][] } = {}): string {
  const top = options.top ?? 25;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (options.windows && !options.windows.some(([from, to]) => at >= from && at <= to)) continue;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  // Line:column of the code V8 ran: tsx puts each transpiled module on one line, so for src/
  // and bench/ the column is what tells two anonymous functions of a file apart.
  const label = (id: number) => {
    const { functionName, url, lineNumber, columnNumber } = byId.get(id)!.callFrame;
    const where = url ? `${url.replace(/^file:\/\/.*?\/(src|bench|node_modules)\//, '$1/')}:${lineNumber + 1}:${columnNumber + 1}` : '';
    return `${functionName || '(anonymous)'} ${where}`.trim();
  };
  // Inclusive time of Relais's own functions (src/): everything they call synchronously, Node
  // internals and syscalls included, counted once per sample however deep the recursion.
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      if (!byId.get(at)!.callFrame.url.includes('/src/')) continue;
      const name = label(at);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url } = byId.get(id)!.callFrame;
    total += us;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    const name = label(id);
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const area = AREAS.find(([, test]) => test(url, functionName))![0];
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  }
  const busy = total - idle || 1;
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
  const lines = [
    `${(total / 1e6).toFixed(1)} s sampled, ${((total - idle) / 1e6).toFixed(2)} s busy in this thread; shares of the busy time.`,
    'by area (self time):',
  ];
  for (const [area, us] of [...byArea].sort((a, b) => b[1] - a[1])) lines.push(`  ${pct(us)}  ${area}`);
  lines.push(`top ${top} functions (self time):`);
  for (const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${name}`);
  const ours = [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, Math.ceil(top / 2));
  if (ours.length) {
    lines.push(`top ${ours.length} Relais functions (inclusive time, synchronous callees included):`);
    for (const [name, us] of ours) lines.push(`  ${pct(us)}  ${name}`);
  }
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [file, n] = process.argv.slice(2);
  if (!file) {
    console.error('usage: npx tsx bench/cpuprofile-top.ts FILE.cpuprofile [N]');
    process.exit(2);
  }
  console.log(summarizeProfile(file, { top: Number(n ?? 25) }));
}
