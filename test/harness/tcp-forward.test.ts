import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from './ports.js';
import { type Forwarder, forwardTcp, roundRobin, type Target } from './tcp-forward.js';

// The forwarder npm start puts between loopback and the node's pods: bytes both ways, a target resolved per
// connection (round robin over what the list gives), and a connection refused while there is none.

const servers: net.Server[] = [];
const forwarders: Forwarder[] = [];
afterEach(async () => {
  await Promise.all(forwarders.splice(0).map((f) => f.close()));
  for (const s of servers.splice(0)) s.close();
});

/** A server that answers each connection with its name and echoes what it gets. */
async function echo(name: string): Promise<Target> {
  const server = net.createServer((s) => {
    s.write(`${name}:`);
    s.pipe(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
}

function exchange(port: number, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let got = '';
    c.on('data', (d) => {
      got += d.toString();
      if (got.endsWith(send)) c.end();
    });
    c.on('close', () => resolve(got));
    c.on('error', reject);
    c.write(send);
  });
}

describe('forwardTcp', () => {
  it('pipes both ways and spreads connections over the targets', async () => {
    const targets = [await echo('a'), await echo('b')];
    const f = await forwardTcp(
      { host: '127.0.0.1', port: await freePort() },
      roundRobin(async () => targets),
    );
    forwarders.push(f);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await exchange(f.port, `hello ${i}`));
    expect(answers.map((a) => a.split(':')[1])).toEqual(['hello 0', 'hello 1', 'hello 2', 'hello 3']);
    expect(new Set(answers.map((a) => a.split(':')[0]))).toEqual(new Set(['a', 'b']));
    expect(f.connections()).toBe(4);
  });

  it('closes a connection while no target is ready, and asks again at the next one', async () => {
    let ready: Target[] = [];
    const f = await forwardTcp(
      { host: '127.0.0.1', port: await freePort() },
      roundRobin(async () => ready),
    );
    forwarders.push(f);
    expect(await exchange(f.port, 'x')).toBe('');
    ready = [await echo('late')];
    expect(await exchange(f.port, 'y')).toBe('late:y');
  });
});
