import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { initConfig, loadConfig, settings } from '../../../src/config/index.js'
import { loadOrCreateIdentity } from '../../../src/net/index.js'
import { ROOT } from '../../fixtures/paths.js'

const execFileP = promisify(execFile)

async function tempDir (t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-init-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('init writes every setting and a fresh secret that loadConfig accepts, plus the identity', async (t) => {
  const path = join(await tempDir(t), 'node')
  const r = await initConfig({ path, env: {} })
  assert.equal(r.path, path)

  const file = JSON.parse(await readFile(r.configFile, 'utf8')) as Record<string, Record<string, unknown>>
  for (const s of settings()) {
    if (s.dotted === 'log.pretty') continue // depends on the terminal; written only when given
    assert.ok(s.fileKey in (file[s.section] ?? {}), `config.json lacks ${s.dotted}`)
  }
  assert.match(String(file.cluster?.secret), /^[0-9a-f]{64}$/)

  const config = await loadConfig({ path, env: {} })
  assert.equal(config.cluster.secret, file.cluster?.secret)
  assert.equal(config.net.listen[0], '/ip4/0.0.0.0/tcp/9096')
  assert.equal(peerIdFromPrivateKey(await loadOrCreateIdentity(path)).toString(), r.peerId)
  assert.equal((await stat(r.configFile)).mode & 0o777, 0o600, 'the config holds the secret')
  assert.equal((await stat(r.identityFile)).mode & 0o777, 0o600)

  const other = await initConfig({ path: join(path, '..', 'other'), env: {} })
  assert.notEqual((await loadConfig({ path: other.path, env: {} })).cluster.secret, config.cluster.secret, 'each init draws a new secret')
})

test('init stores the flags and env values it is given', async (t) => {
  const path = await tempDir(t)
  const secret = 'c0ffee'.repeat(10) + 'c0fe'
  await initConfig({
    path,
    env: { PINMESH_NET_REDIAL_MAX: '30s' },
    flags: { 'cluster.secret': secret, 'net.listen': '/ip4/127.0.0.1/tcp/0', 'log.pretty': 'false' }
  })
  const config = await loadConfig({ path, env: {} })
  assert.equal(config.cluster.secret, secret)
  assert.deepEqual(config.net.listen, ['/ip4/127.0.0.1/tcp/0'])
  assert.equal(config.net.redialMaxMs, 30_000)
  assert.equal(config.log.pretty, false)
})

test('init refuses to overwrite an existing config.json or identity.key', async (t) => {
  const path = await tempDir(t)
  const first = await initConfig({ path, env: {} })
  const before = await readFile(first.configFile, 'utf8')
  await assert.rejects(initConfig({ path, env: {} }), { name: 'AlreadyInitializedError', file: first.configFile })
  assert.equal(await readFile(first.configFile, 'utf8'), before)

  const onlyKey = await tempDir(t)
  await loadOrCreateIdentity(onlyKey)
  await assert.rejects(initConfig({ path: onlyKey, env: {} }), { name: 'AlreadyInitializedError' })
  await assert.rejects(stat(join(onlyKey, 'config.json')), { code: 'ENOENT' }, 'nothing was written')
})

test('init rejects invalid flags before writing anything', async (t) => {
  const path = await tempDir(t)
  await assert.rejects(initConfig({ path, env: {}, flags: { 'cluster.secret': 'short' } }), { name: 'InvalidConfigurationError' })
  await assert.rejects(stat(join(path, 'identity.key')), { code: 'ENOENT' })
})

test('`pinmesh init` prints the peer id, and exits 1 with a clear message when run twice', async (t) => {
  const path = join(await tempDir(t), 'cli')
  const cli = async (): Promise<{ code: number, stdout: string, stderr: string }> => {
    try {
      const { stdout, stderr } = await execFileP(process.execPath, ['--import', 'tsx', join(ROOT, 'src/bin/pinmesh.ts'),
        'init', '--path', path, '--net-listen', '/ip4/127.0.0.1/tcp/0', '--bootstrap', '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWKox7G9d3P3DcQsuQwLeGtojj7DntSapAoqXMbufDkBfz'],
      { cwd: ROOT, env: { ...process.env, PINMESH_PATH: '' } })
      return { code: 0, stdout, stderr }
    } catch (err) {
      const e = err as { code: number, stdout: string, stderr: string }
      return { code: e.code, stdout: e.stdout, stderr: e.stderr }
    }
  }
  const first = await cli()
  assert.equal(first.code, 0, first.stderr)
  const id = /Peer id: (\S+)/.exec(first.stdout)?.[1]
  assert.equal(id, peerIdFromPrivateKey(await loadOrCreateIdentity(path)).toString())
  assert.match(first.stdout, new RegExp(`Wrote configuration to ${join(path, 'config.json')}`))
  const config = await loadConfig({ path, env: {} })
  assert.deepEqual(config.net.listen, ['/ip4/127.0.0.1/tcp/0'])
  assert.equal(config.net.bootstrap.length, 1, '--bootstrap is an alias of --net-bootstrap')

  const second = await cli()
  assert.equal(second.code, 1)
  assert.match(second.stderr, /config\.json already exists; refusing to overwrite it/)
})
