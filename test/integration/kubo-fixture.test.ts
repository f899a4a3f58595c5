import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readlink, readFile } from 'node:fs/promises'
import { startKubos } from '../fixtures/kubo.js'
import { httpRequest } from '../fixtures/http.js'

// The Kubo daemons the tests start must reach nothing but 127.0.0.1.

/** Every TCP and UDP socket a process holds, as `local -> remote` IPv4/IPv6 addresses. */
async function socketsOf (pid: number): Promise<Array<{ proto: string, local: string, remote: string }>> {
  const inodes = new Set<string>()
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    const m = /^socket:\[(\d+)\]$/.exec(link)
    if (m !== null) inodes.add(m[1] as string)
  }
  const out: Array<{ proto: string, local: string, remote: string }> = []
  for (const proto of ['tcp', 'tcp6', 'udp', 'udp6']) {
    const table = await readFile(`/proc/${pid}/net/${proto}`, 'utf8')
    for (const line of table.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10 || !inodes.has(f[9] as string)) continue
      out.push({ proto, local: addr(f[1] as string), remote: addr(f[2] as string) })
    }
  }
  return out
}

/** A /proc/net address (`0100007F:1F90`, or 32 hex digits for IPv6) as text. */
function addr (hexPort: string): string {
  const [hex, port] = hexPort.split(':') as [string, string]
  const bytes = (Buffer.from(hex, 'hex').toString('hex').match(/.{8}/g) ?? []).flatMap(w => [...Buffer.from(w, 'hex')].reverse())
  const ip = bytes.length === 4
    ? bytes.join('.')
    : bytes.every((b, i) => (i < 15 ? b === 0 : b === 1)) ? '::1' : bytes.every((b, i) => (i < 10 ? b === 0 : i < 12 ? b === 255 : true)) ? `::ffff:${bytes.slice(12).join('.')}` : bytes.every(b => b === 0) ? '::' : 'other-ipv6'
  return `${ip}:${parseInt(port, 16)}`
}

const LOOPBACK_OR_UNBOUND = /^(127\.0\.0\.1|0\.0\.0\.0|::1|::|::ffff:127\.0\.0\.1):\d+$/

test('test Kubo daemons have no bootstrap peers, listen on loopback only and hold no socket to any other address', async (t) => {
  const kubos = await startKubos(2)
  t.after(async () => { await Promise.all(kubos.map(async k => { await k.destroy() })) })
  // Give them a moment to try whatever they would try: bootstrap, DHT, mDNS, AutoConf.
  await new Promise(resolve => setTimeout(resolve, 3000))
  for (const k of kubos) {
    const cfg = JSON.parse((await httpRequest(`${k.apiUrl}/api/v0/config/show`)).body.toString()) as { Bootstrap: string[], Addresses: { Swarm: string[], API: string, Gateway: string } }
    assert.deepEqual(cfg.Bootstrap, [])
    for (const a of [...cfg.Addresses.Swarm, cfg.Addresses.API, cfg.Addresses.Gateway]) assert.match(a, /^\/ip4\/127\.0\.0\.1\//)
    const local = JSON.parse((await httpRequest(`${k.apiUrl}/api/v0/swarm/addrs/local`)).body.toString()) as { Strings: string[] }
    for (const a of local.Strings) assert.match(a, /^\/ip4\/127\.0\.0\.1\//)
    const sockets = await socketsOf(k.process?.pid as number)
    assert.ok(sockets.length > 0, 'the daemon holds sockets (its listeners at least)')
    for (const s of sockets) {
      assert.match(s.local, LOOPBACK_OR_UNBOUND, `${s.proto} socket bound to ${s.local}`)
      assert.match(s.remote, LOOPBACK_OR_UNBOUND, `${s.proto} socket connected to ${s.remote}`)
    }
  }
})
