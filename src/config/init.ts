import { randomBytes } from 'node:crypto'
import { link, lstat, mkdir, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { AlreadyInitializedError } from '../errors.js'
import { CONFIG_FILE_NAME, loadConfig, toFileForm, type LoadOptions } from './load.js'

export type InitOptions = Omit<LoadOptions, 'configFile'>

export interface InitResult {
  /** The config directory. */
  path: string
  configFile: string
  identityFile: string
  peerId: string
}

/** A fresh random cluster secret: 32 bytes as 64 lower-case hex characters. */
export function generateClusterSecret (): string {
  return randomBytes(32).toString('hex')
}

/**
 * `pinmesh init`: creates the config directory (`options.path`, else $PINMESH_PATH, else ~/.pinmesh, as
 * `loadConfig` resolves it) with `config.json` holding every setting (defaults, overridden by `PINMESH_*` env and
 * `flags`) and a fresh random `cluster.secret` unless one was given, plus a new `identity.key`. Both files are mode
 * 0600 (the config holds the secret). Throws `AlreadyInitializedError` if either file exists (nothing is
 * overwritten), `InvalidConfigurationError` for invalid flags or env values.
 */
export async function initConfig (options: InitOptions = {}): Promise<InitResult> {
  const env = options.env ?? process.env
  const path = resolve(options.path ?? env.PINMESH_PATH ?? join(homedir(), '.pinmesh'))
  // Loaded on demand so that other CLI commands, which import config/, do not pay for the crypto libraries;
  // identity.ts rather than net/index.js, which would load all of libp2p.
  const [{ createIdentity, IDENTITY_FILE_NAME }, { peerIdFromPrivateKey }] = await Promise.all([import('../net/identity.js'), import('@libp2p/peer-id')])
  const configFile = join(path, CONFIG_FILE_NAME)
  const identityFile = join(path, IDENTITY_FILE_NAME)
  for (const file of [configFile, identityFile]) {
    if (await exists(file)) throw new AlreadyInitializedError(file)
  }

  const config = await loadConfig({ ...options, path, env })
  const body = toFileForm(config, { showSecrets: true })
  const cluster = body.cluster as Record<string, unknown>
  if (cluster.secret === '') cluster.secret = generateClusterSecret()
  // log.pretty defaults to "is stderr a terminal"; freezing the answer of the shell that ran init into the file
  // would make a daemon started by systemd log pretty lines, so it is written only when given explicitly.
  if (options.flags?.['log.pretty'] === undefined && env.PINMESH_LOG_PRETTY === undefined) delete body.log?.pretty

  await mkdir(path, { recursive: true, mode: 0o700 })
  const key = await createIdentity(path)
  await writeExclusive(configFile, JSON.stringify(body, null, 2) + '\n')
  return { path, configFile, identityFile, peerId: peerIdFromPrivateKey(key).toString() }
}

async function exists (file: string): Promise<boolean> {
  try {
    await lstat(file)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

// Written to a temporary file and linked into place: the config appears complete or not at all, and link()
// refuses to replace a file that appeared in the meantime.
async function writeExclusive (file: string, content: string): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`
  await writeFile(tmp, content, { mode: 0o600 })
  try {
    await link(tmp, file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new AlreadyInitializedError(file, { cause: err })
    throw err
  } finally {
    await rm(tmp, { force: true })
  }
}
