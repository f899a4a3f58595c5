import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parse } from 'yaml'
import { loadConfig, settings } from '../../../src/config/index.js'
import { ROOT } from '../../fixtures/paths.js'

// No Docker engine runs where the tests run, so compose/ is checked statically: it parses, what it
// builds exists, images are pinned, and every pinmesh setting it passes is real and valid.

const COMPOSE_DIR = join(ROOT, 'compose')
const compose = parse(readFileSync(join(COMPOSE_DIR, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { image?: string, build?: { context: string, dockerfile: string }, environment?: Record<string, string>, depends_on?: Record<string, { condition: string }>, ports?: string[], volumes?: string[] }>
  volumes: Record<string, unknown>
}
const dockerfilePath = join(COMPOSE_DIR, 'Dockerfile')
const dockerfile = readFileSync(dockerfilePath, 'utf8')
const entrypoint = readFileSync(join(COMPOSE_DIR, 'entrypoint.sh'), 'utf8')
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const pinmeshServices = Object.entries(compose.services).filter(([, s]) => s.build !== undefined)

/** Instructions of a Dockerfile, continuation lines joined. */
function instructions (text: string): Array<{ op: string, args: string }> {
  return text.replace(/\\\n/g, ' ').split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
    .map(l => { const [op, ...rest] = l.split(/\s+/); return { op: (op as string).toUpperCase(), args: rest.join(' ') } })
}

/** ENV instructions as key → value (`ENV A=1 B=2`). */
function dockerEnv (): Record<string, string> {
  const env: Record<string, string> = {}
  for (const i of instructions(dockerfile).filter(i => i.op === 'ENV')) {
    for (const m of i.args.matchAll(/(\w+)=(\S+)/g)) env[m[1] as string] = m[2] as string
  }
  return env
}

test('3 Kubo services on the pinned image and 3 pinmesh services built from this repository', () => {
  const kubos = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('ipfs/kubo:') === true)
  assert.deepEqual(kubos.map(([n]) => n), ['ipfs0', 'ipfs1', 'ipfs2'])
  assert.deepEqual(pinmeshServices.map(([n]) => n), ['pinmesh0', 'pinmesh1', 'pinmesh2'])
  for (const [name, s] of kubos) assert.equal(s.image, 'ipfs/kubo:v0.42.0', name)
})

test('every image reference is pinned to a full version', () => {
  for (const [name, s] of Object.entries(compose.services)) {
    if (s.image !== undefined) assert.match(s.image, /^[\w./-]+:v?\d+\.\d+\.\d+$/, name)
  }
  const froms = instructions(dockerfile).filter(i => i.op === 'FROM')
  assert.ok(froms.length > 0)
  for (const f of froms) assert.match(f.args, /^node:20\.\d+\.\d+(-[\w]+)*$/, f.args)
})

test('every build context names a Dockerfile that exists, and what it copies exists', () => {
  for (const [name, s] of pinmeshServices) {
    const context = resolve(COMPOSE_DIR, s.build?.context as string)
    assert.equal(context, ROOT, name)
    assert.ok(existsSync(join(context, s.build?.dockerfile as string)), `${name}: ${s.build?.dockerfile as string}`)
    for (const c of instructions(dockerfile).filter(i => i.op === 'COPY')) {
      const parts = c.args.split(/\s+/).filter(p => !p.startsWith('--'))
      for (const src of parts.slice(0, -1)) assert.ok(existsSync(join(context, src)), `COPY ${src}`)
    }
  }
  assert.ok(existsSync(join(COMPOSE_DIR, 'Dockerfile.dockerignore')))
})

test("the Dockerfile's RUN commands are the README's own commands", () => {
  const runs = instructions(dockerfile).filter(i => i.op === 'RUN').flatMap(i => i.args.split('&&').map(c => c.trim()))
  assert.deepEqual(runs, ['npm ci', 'npm run build'])
  for (const cmd of runs) assert.ok(readme.includes(`\`${cmd}\``) || readme.includes(`${cmd} &&`) || readme.includes(`&& ${cmd}`), `README mentions ${cmd}`)
})

test("the pinmesh services' env keys are real settings with valid values; the entrypoint's own keys are documented there", async () => {
  const real = new Set(settings().map(s => s.env))
  const cli = new Set(['PINMESH_PATH', 'PINMESH_HOST', 'PINMESH_CREDENTIALS'])
  const base = dockerEnv()
  for (const key of Object.keys(base)) assert.ok(real.has(key) || cli.has(key), `Dockerfile ENV ${key}`)
  for (const [name, s] of pinmeshServices) {
    const env = s.environment ?? {}
    for (const key of Object.keys(env)) {
      if (key.startsWith('PINMESH_')) assert.ok(real.has(key) || cli.has(key), `${name}: ${key} is not a pinmesh setting`)
      else assert.match(entrypoint, new RegExp(`\\$\\{?${key}\\b`), `${name}: ${key} is neither a setting nor read by the entrypoint`)
    }
    assert.match(env.PINMESH_CLUSTER_SECRET ?? '', /^\$\{PINMESH_CLUSTER_SECRET:\?/, `${name}: the secret comes from the environment and is required`)
    const kubo = /^\/dns4\/(ipfs\d)\/tcp\/5001$/.exec(env.PINMESH_KUBO_API ?? '')
    assert.ok(kubo !== null && kubo[1] === name.replace('pinmesh', 'ipfs'), `${name} points at its own Kubo`)
    // The values as the daemon would read them, with the secret interpolated.
    const resolved = { ...base, ...env, PINMESH_CLUSTER_SECRET: 'ab'.repeat(32) }
    const config = await loadConfig({ env: resolved, path: join(ROOT, 'compose', 'no-such-dir') })
    assert.equal(config.api.listen, '/ip4/0.0.0.0/tcp/9094')
    assert.equal(config.proxy.listen, '/ip4/0.0.0.0/tcp/9095')
    assert.deepEqual(config.net.listen, ['/ip4/0.0.0.0/tcp/9096'])
    assert.equal(config.cluster.peername, name)
  }
})

test('peers 1 and 2 bootstrap to peer 0 once it is healthy; admin and proxy are published on loopback', () => {
  for (const [name, s] of pinmeshServices) {
    const i = Number(name.slice(-1))
    assert.deepEqual(s.ports, [`127.0.0.1:${9094 + 100 * i}:9094`, `127.0.0.1:${9095 + 100 * i}:9095`], name)
    assert.equal(s.depends_on?.[`ipfs${i}`]?.condition, 'service_healthy')
    if (i === 0) assert.equal(s.environment?.BOOTSTRAP_FROM, undefined)
    else {
      assert.equal(s.environment?.BOOTSTRAP_FROM, 'pinmesh0')
      assert.equal(s.depends_on?.pinmesh0?.condition, 'service_healthy')
    }
    for (const v of s.volumes ?? []) assert.ok(v.split(':')[0] as string in compose.volumes, v)
  }
  assert.match(entrypoint, /PINMESH_NET_BOOTSTRAP="\/dns4\/\$BOOTSTRAP_FROM\/tcp\/9096\/p2p\/\$id"/)
  assert.match(entrypoint, /pinmesh --host "\/dns4\/\$BOOTSTRAP_FROM\/tcp\/9094" id --json/)
})
