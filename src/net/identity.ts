import { randomBytes } from 'node:crypto'
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { AlreadyInitializedError } from '../errors.js'

// This file depends on @libp2p/crypto only (not libp2p), so `pinmesh init` can use it without loading the swarm.

/** File name of the libp2p private key inside the config directory. */
export const IDENTITY_FILE_NAME = 'identity.key'

/**
 * Loads this peer's libp2p private key from `<dir>/identity.key` (protobuf), creating a new Ed25519 key there
 * (mode 0600) when the file does not exist. The same directory always yields the same peer id.
 */
export async function loadOrCreateIdentity (dir: string): Promise<PrivateKey> {
  try {
    return await readIdentity(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  try {
    return await createIdentity(dir)
  } catch (err) {
    // Another process created it between our read and our write: use theirs.
    if ((err as Error).name === AlreadyInitializedError.NAME) return await readIdentity(dir)
    throw err
  }
}

/**
 * Creates a new Ed25519 key in `<dir>/identity.key` (mode 0600). Never overwrites: throws
 * `AlreadyInitializedError` when the file exists. The file appears complete or not at all.
 */
export async function createIdentity (dir: string): Promise<PrivateKey> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const key = await generateKeyPair('Ed25519')
  const file = join(dir, IDENTITY_FILE_NAME)
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`
  await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
  try {
    // link() fails when the target exists, unlike rename(): that is what makes this refuse to overwrite.
    await link(tmp, file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new AlreadyInitializedError(file, { cause: err })
    throw err
  } finally {
    await rm(tmp, { force: true })
  }
  return key
}

async function readIdentity (dir: string): Promise<PrivateKey> {
  const file = join(dir, IDENTITY_FILE_NAME)
  const bytes = await readFile(file)
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new Error(`${file} does not hold a libp2p private key: ${(err as Error).message}`, { cause: err })
  }
}
