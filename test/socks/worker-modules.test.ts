import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * The SOCKS worker's heap is what its garbage collections walk for every relayed connection:
 * it must not load the database's modules (Prisma's client and runtime, the services); what
 * it needs from the database, the main thread runs for it (src/socks/store.ts).
 */
describe('the SOCKS worker thread', () => {
  it('loads no database module, directly or through another', async () => {
    const { metafile } = await build({
      entryPoints: ['src/socks/worker.ts'],
      bundle: true,
      write: false,
      metafile: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      logLevel: 'silent',
    });
    const files = Object.keys(metafile.inputs);
    const packages = new Set(Object.values(metafile.inputs).flatMap((input) => input.imports.filter((i) => i.external).map((i) => i.path)));
    // What it must load, so that the check below is not vacuous.
    expect(files).toEqual(expect.arrayContaining(['src/socks/metering.ts', 'src/socks/gate.ts', 'src/socks/upstreams.ts', 'src/socks/key-store.ts']));
    expect(files.filter((f) => /src\/(db|migrations)\.ts$|src\/generated\/|\.service\.ts$|src\/lib\/money\.ts$|src\/socks\/store\.ts$/.test(f))).toEqual([]);
    expect([...packages].filter((p) => /^(@prisma\/|pg$|@electric-sql\/|pglite-)/.test(p))).toEqual([]);
  });
});
