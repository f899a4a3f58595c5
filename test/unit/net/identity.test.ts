import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createIdentity, loadOrCreateIdentity, swarmKeyFromSecret, IDENTITY_FILE_NAME } from '../../../src/net/index.js'

async function tempDir (t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pinmesh-identity-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('the identity is created once, mode 0600, and reloads to the same Ed25519 peer id', async (t) => {
  const dir = join(await tempDir(t), 'nested')
  const first = await loadOrCreateIdentity(dir)
  assert.equal(first.type, 'Ed25519')
  const file = join(dir, IDENTITY_FILE_NAME)
  assert.equal((await stat(file)).mode & 0o777, 0o600)
  const bytes = await readFile(file)
  const again = await loadOrCreateIdentity(dir)
  assert.equal(peerIdFromPrivateKey(again).toString(), peerIdFromPrivateKey(first).toString())
  assert.deepEqual(await readFile(file), bytes, 'the file was not rewritten')
})

test('createIdentity refuses to overwrite an existing key', async (t) => {
  const dir = await tempDir(t)
  const key = await createIdentity(dir)
  await assert.rejects(createIdentity(dir), { name: 'AlreadyInitializedError' })
  assert.equal(peerIdFromPrivateKey(await loadOrCreateIdentity(dir)).toString(), peerIdFromPrivateKey(key).toString())
})

test('concurrent first starts agree on one identity', async (t) => {
  const dir = await tempDir(t)
  const keys = await Promise.all(Array.from({ length: 5 }, async () => await loadOrCreateIdentity(dir)))
  assert.equal(new Set(keys.map(k => peerIdFromPrivateKey(k).toString())).size, 1)
})

test('the cluster secret becomes a Kubo swarm.key; an empty secret means no private network', () => {
  const hex = 'AB'.repeat(32)
  assert.equal(new TextDecoder().decode(swarmKeyFromSecret(hex)), `/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(32)}\n`)
  assert.equal(swarmKeyFromSecret(''), undefined)
  assert.throws(() => swarmKeyFromSecret('abc'), { name: 'InvalidConfigurationError' })
})
