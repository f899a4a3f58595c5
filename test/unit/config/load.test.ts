import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, writeFile, rm, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, settings, schema } from '../../../src/config/index.js'
import { ROOT } from '../../fixtures/paths.js'

async function withDir (fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-config-'))
  try { await fn(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

test('with no config file every setting has its documented default', async () => {
  await withDir(async (dir) => {
    const c = await loadConfig({ path: dir, env: {} })
    assert.equal(c.path, dir)
    assert.equal(c.proxy.listen, '/ip4/127.0.0.1/tcp/9095')
    assert.equal(c.kubo.api, '/ip4/127.0.0.1/tcp/5001')
    assert.equal(c.kubo.connectTimeoutMs, 800)
    assert.equal(c.proxy.headersTimeoutMs, 30_000)
  })
})

test('defaults < config file < PINMESH_* env < flags', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'config.json'), JSON.stringify({
      proxy: { listen: '/ip4/127.0.0.1/tcp/1001', headersTimeout: '10s' },
      kubo: { api: 'http://127.0.0.1:1002', connectTimeout: '2s' }
    }))
    const c = await loadConfig({
      path: dir,
      env: { PINMESH_KUBO_API: '/ip4/127.0.0.1/tcp/2002', PINMESH_KUBO_CONNECT_TIMEOUT: '3s', PINMESH_LOG_LEVELS: 'proxy=debug,tracker=warn' },
      flags: { 'kubo.connectTimeout': '4s' }
    })
    assert.equal(c.proxy.listen, '/ip4/127.0.0.1/tcp/1001', 'file beats default')
    assert.equal(c.proxy.headersTimeoutMs, 10_000)
    assert.equal(c.kubo.api, '/ip4/127.0.0.1/tcp/2002', 'env beats file')
    assert.equal(c.kubo.connectTimeoutMs, 4000, 'flag beats env')
    assert.deepEqual(c.log.levels, { proxy: 'debug', tracker: 'warn' })
  })
})

test('every invalid value is reported by its key, all at once', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'config.json'), JSON.stringify({ proxy: { listen: 'nowhere', bogus: 1 }, nosuch: {} }))
    await assert.rejects(loadConfig({ path: dir, env: { PINMESH_KUBO_CONNECT_TIMEOUT: 'soon' }, flags: { 'proxy.maxHeaderSize': '12' } }), (err: Error & { problems?: string[] }) => {
      assert.equal(err.name, 'InvalidConfigurationError')
      const p = (err.problems ?? []).join('\n')
      assert.match(p, /^proxy\.listen \(in .*config\.json\): nowhere: expected a multiaddr/m)
      assert.match(p, /^proxy\.bogus: unknown key/m)
      assert.match(p, /^nosuch: unknown section/m)
      assert.match(p, /^kubo\.connectTimeout \(env PINMESH_KUBO_CONNECT_TIMEOUT\): invalid duration "soon"/m)
      assert.match(p, /^proxy\.maxHeaderSize \(flag --proxy-max-header-size\): must be ≥ 4096/m)
      return true
    })
  })
})

test('a config file that is not JSON, or named but missing, is an error', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'config.json'), '{ not json')
    await assert.rejects(loadConfig({ path: dir, env: {} }), /config\.json: .*JSON/)
    await assert.rejects(loadConfig({ path: dir, env: {}, configFile: join(dir, 'missing.json') }), /missing\.json: ENOENT/)
  })
})

test('the resolved config is frozen all the way down', async () => {
  await withDir(async (dir) => {
    const c = await loadConfig({ path: dir, env: { PINMESH_LOG_LEVELS: 'proxy=debug' } })
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.proxy) && Object.isFrozen(c.log.levels))
    assert.throws(() => { (c.proxy as { listen: string }).listen = 'x' }, TypeError)
  })
})

test('the README documents every setting with its env var', async () => {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  for (const s of settings()) {
    assert.ok(readme.includes(`\`${s.dotted}\``), `README lacks ${s.dotted}`)
    assert.ok(readme.includes(`\`${s.env}\``), `README lacks ${s.env}`)
  }
  assert.ok(Object.keys(schema).length >= 3)
})
