/**
 * Baseline (c) of `npm run bench:socks`: the SOCKS5 relay anyone would write in an afternoon
 * with `net` and `pipe`, no metering, no limits, no timeouts. RFC 1929 username/password
 * accepting any user, CONNECT to IPv4, IPv6 or a domain name. Started as a child process by
 * bench/socks.ts; prints {"port":N} once listening on 127.0.0.1.
 */
import net, { type AddressInfo, type Socket } from 'node:net';

const FAIL = Buffer.from([5, 1, 0, 1, 0, 0, 0, 0, 0, 0]);

function handle(client: Socket): void {
  let buf = Buffer.alloc(0);
  let phase: 'greeting' | 'auth' | 'request' = 'greeting';
  client.setNoDelay(true);
  client.on('error', () => client.destroy());

  const onData = (chunk: Buffer): void => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (phase === 'greeting') {
        if (buf.length < 2 || buf.length < 2 + buf[1]) return;
        const methods = buf.subarray(2, 2 + buf[1]);
        buf = buf.subarray(2 + buf[1]);
        if (!methods.includes(2)) return void client.end(Buffer.from([5, 0xff]));
        client.write(Buffer.from([5, 2]));
        phase = 'auth';
      } else if (phase === 'auth') {
        if (buf.length < 2 || buf.length < 3 + buf[1] || buf.length < 3 + buf[1] + buf[2 + buf[1]]) return;
        buf = buf.subarray(3 + buf[1] + buf[2 + buf[1]]);
        client.write(Buffer.from([1, 0])); // any username, any password
        phase = 'request';
      } else {
        if (buf.length < 5) return;
        const atyp = buf[3];
        const addrLen = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? 1 + buf[4] : -1;
        if (buf[1] !== 1 || addrLen < 0) return void client.end(FAIL);
        if (buf.length < 4 + addrLen + 2) return;
        const addr = buf.subarray(4, 4 + addrLen);
        const host =
          atyp === 1
            ? addr.join('.')
            : atyp === 4
              ? Array.from({ length: 8 }, (_, i) => addr.readUInt16BE(i * 2).toString(16)).join(':')
              : addr.subarray(1).toString();
        const port = buf.readUInt16BE(4 + addrLen);
        const early = buf.subarray(4 + addrLen + 2);
        client.off('data', onData);
        client.pause();
        connect(client, host, port, early);
        return;
      }
    }
  };
  client.on('data', onData);
}

function connect(client: Socket, host: string, port: number, early: Buffer): void {
  const target = net.connect({ host, port });
  let connected = false;
  target.setNoDelay(true);
  target.on('error', () => {
    if (connected) client.destroy();
    else client.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0])); // connection refused
  });
  client.on('close', () => target.destroy());
  target.on('connect', () => {
    connected = true;
    const reply = Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const local = target.localAddress ?? '0.0.0.0';
    if (net.isIPv4(local)) local.split('.').forEach((n, i) => (reply[4 + i] = Number(n)));
    reply.writeUInt16BE(target.localPort ?? 0, 8);
    client.write(reply);
    if (early.length > 0) target.write(early);
    client.pipe(target);
    target.pipe(client);
    client.resume();
  });
}

const server = net.createServer(handle);
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port }));
});
// Goes with the bench that started it, however the bench ends.
process.on('disconnect', () => process.exit(0));
// A clean exit on SIGTERM, so that `node --cpu-prof` writes its profile.
process.on('SIGTERM', () => process.exit(0));
