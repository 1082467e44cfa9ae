import { execFile } from 'node:child_process';
import http from 'node:http';
import { onTestFinished, describe, expect, it } from 'vitest';
import { eventually, fakeGate, fakeGrant, listen, startProxy } from './helpers.js';

interface CurlResult {
  exitCode: number;
  body: string;
  stderr: string;
}

function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['--silent', '--show-error', '--max-time', '10', ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const exitCode = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ exitCode, body: stdout, stderr });
    });
  });
}

async function startHttpOrigin(): Promise<number> {
  const server = http.createServer((req, res) => {
    if (req.url === '/big') {
      res.end(Buffer.alloc(5 * 1024 * 1024, 'a'));
    } else {
      res.end(`hello ${req.url}`);
    }
  });
  const port = await listen(server);
  onTestFinished(() => server.closeAllConnections());
  return port;
}

describe('curl', () => {
  it('fetches through socks5h:// with KEY@ and an empty password, the proxy resolving localhost', async () => {
    const originPort = await startHttpOrigin();
    const gate = fakeGate({ KEY: fakeGrant() });
    const { port } = await startProxy({ gate });
    const result = await curl(['-x', `socks5h://KEY@127.0.0.1:${port}`, `http://localhost:${originPort}/path`]);
    expect(result).toMatchObject({ exitCode: 0, body: 'hello /path' });
    expect(gate.calls).toEqual(['KEY']);
  });

  it('fetches through socks5:// with an IPv4 target', async () => {
    const originPort = await startHttpOrigin();
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }) });
    const result = await curl(['-x', `socks5://KEY:@127.0.0.1:${port}`, `http://127.0.0.1:${originPort}/v4`]);
    expect(result).toMatchObject({ exitCode: 0, body: 'hello /v4' });
  });

  it('counts exactly the bytes curl sent and received', async () => {
    const originPort = await startHttpOrigin();
    const grant = fakeGrant();
    const { port } = await startProxy({ gate: fakeGate({ KEY: grant }) });
    const result = await curl([
      '-x',
      `socks5h://KEY@127.0.0.1:${port}`,
      '-o',
      '/dev/null',
      '-w',
      '%{size_request} %{size_header} %{size_download}',
      `http://localhost:${originPort}/big`,
    ]);
    expect(result.exitCode).toBe(0);
    const [request, header, download] = result.body.split(' ').map(Number) as [number, number, number];
    expect(download).toBe(5 * 1024 * 1024);
    await eventually(() => grant.closed.length === 1);
    expect(grant.closed[0]).toMatchObject({ bytesUp: request, bytesDown: header + download });
  });

  it('fails with curl error 97 on a wrong key', async () => {
    const { port } = await startProxy({ gate: fakeGate({ KEY: fakeGrant() }) });
    const result = await curl(['-x', `socks5h://WRONG@127.0.0.1:${port}`, 'http://localhost:1/']);
    expect(result.exitCode).toBe(97);
    expect(result.stderr).toMatch(/rejected/i);
  });

  it('fails with REP 0x02 when the key has no credit left', async () => {
    const { port } = await startProxy({ gate: fakeGate({ BROKE: 'not_allowed' }) });
    const result = await curl(['-x', `socks5h://BROKE@127.0.0.1:${port}`, 'http://localhost:1/']);
    expect(result.exitCode).toBe(97);
    expect(result.stderr).toMatch(/\(2\)/);
  });
});
