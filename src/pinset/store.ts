import { open, rename, mkdir, readFile, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { InvalidDatastoreVersionError } from '../errors.js'
import type { Logger } from '../logger.js'

/** Bump when the on-disk layout changes; a peer refuses to start on another version. */
export const PINSET_FORMAT_VERSION = 1

const STATE_MAGIC = Buffer.from('PMSTATE\0')
const LOG_MAGIC = Buffer.from('PMLOG\0\0\0')
const HEADER_BYTES = 12

/** What the state file says about the document it holds. */
export interface StateMeta {
  /** The epoch of the document (see epoch.ts). */
  epoch: { n: number, leader: string }
  /** The encoded EpochPackage that made this epoch, kept to move peers still on the previous one. */
  package?: Uint8Array
}

export interface LoadedPinset {
  /** The compacted state (a Yjs update), if one was written. */
  state?: Uint8Array
  meta?: StateMeta
  /** Updates appended since for the state's epoch, in order. A torn tail left by a crash is dropped. */
  updates: Uint8Array[]
}

/**
 * Durable storage of the replicated pinset: a compacted state file plus an append-only log of
 * updates since. `append` resolves only once the update is on disk (fdatasync), and appends that
 * arrive while a write is in flight share the next one (group commit). `compact` replaces both
 * files by one state, so restart time follows the live pinset rather than its history.
 *
 * Files: `pinset.state` = magic, u32 format version, u32 reserved, u32 meta length, meta JSON,
 * u32 package length, package, Yjs update; `pinset.log` = magic, u32 version, u32 reserved, then
 * frames of u32 length, u32 crc32, u32 epoch number, update. Frames of another epoch than the
 * state's are skipped on load.
 */
export class PinsetStore {
  private readonly dir: string
  private readonly log: Logger
  private handle?: FileHandle
  private chain: Promise<void> = Promise.resolve()
  private batch: Array<{ frame: Buffer, resolve: () => void, reject: (err: unknown) => void }> = []
  private logSize = 0
  private stateSize = 0
  private closed = false

  private constructor (dir: string, log: Logger) {
    this.dir = dir
    this.log = log
  }

  /** Opens (creating if needed) the store in `dir` and returns what it holds. */
  static async open (dir: string, log: Logger): Promise<{ store: PinsetStore, loaded: LoadedPinset }> {
    await mkdir(dir, { recursive: true })
    const store = new PinsetStore(dir, log)
    const loaded = await store.load()
    return { store, loaded }
  }

  get logBytes (): number { return this.logSize }
  get stateBytes (): number { return this.stateSize }

  /** Appends one update of epoch number `epoch`; resolves when it is on disk. */
  async append (update: Uint8Array, epoch: number): Promise<void> {
    if (this.closed) throw new Error('pinset store is closed')
    const frame = Buffer.allocUnsafe(12 + update.length)
    frame.writeUInt32BE(update.length, 0)
    frame.writeUInt32BE(crc32(update), 4)
    frame.writeUInt32BE(epoch, 8)
    frame.set(update, 12)
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    this.batch.push({ frame, resolve, reject })
    if (this.batch.length === 1) this.enqueue(async () => { await this.flush() }).catch(() => { /* reported to every waiter */ })
    return await promise
  }

  /**
   * Writes `state()` (called when the job runs, so it covers every update applied by then) as the
   * new state file and starts an empty log. Appends queued meanwhile land in the new log; replaying
   * an update the state already holds is harmless in Yjs.
   */
  async compact (state: () => Uint8Array, meta: StateMeta): Promise<void> {
    await this.enqueue(async () => {
      const json = Buffer.from(JSON.stringify({ epoch: meta.epoch }))
      const pkg = meta.package ?? new Uint8Array(0)
      const bytes = state()
      // The state is written as it is, not concatenated with the rest: at a million pins it is ~100 MB.
      await this.writeAtomically('pinset.state', STATE_MAGIC, Buffer.concat([u32(json.length), json, u32(pkg.length), pkg]), bytes)
      await this.handle?.close()
      this.handle = undefined
      await this.writeAtomically('pinset.log', LOG_MAGIC, new Uint8Array(0))
      this.handle = await open(join(this.dir, 'pinset.log'), 'a')
      this.stateSize = bytes.length
      this.logSize = HEADER_BYTES
    })
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.chain
    await this.handle?.close()
    this.handle = undefined
  }

  private async enqueue (job: () => Promise<void>): Promise<void> {
    const run = this.chain.then(job)
    this.chain = run.catch((err: unknown) => { this.log.error({ err }, 'pinset store write failed') })
    await run
  }

  private async flush (): Promise<void> {
    const batch = this.batch
    this.batch = []
    try {
      if (this.handle === undefined) throw new Error('pinset log is not open')
      const data = Buffer.concat(batch.map(b => b.frame))
      await this.handle.write(data)
      await this.handle.datasync()
      this.logSize += data.length
      for (const b of batch) b.resolve()
    } catch (err) {
      for (const b of batch) b.reject(err)
      throw err
    }
  }

  private async load (): Promise<LoadedPinset> {
    const loaded: LoadedPinset = { updates: [] }
    const state = await readOptional(join(this.dir, 'pinset.state'))
    if (state !== undefined) {
      checkHeader(state, STATE_MAGIC, 'pinset.state')
      let pos = HEADER_BYTES
      const metaLen = state.readUInt32BE(pos)
      const meta = JSON.parse(state.subarray(pos + 4, pos + 4 + metaLen).toString()) as StateMeta
      pos += 4 + metaLen
      const pkgLen = state.readUInt32BE(pos)
      if (pkgLen > 0) meta.package = state.subarray(pos + 4, pos + 4 + pkgLen)
      pos += 4 + pkgLen
      loaded.meta = meta
      loaded.state = state.subarray(pos)
      this.stateSize = loaded.state.length
    }
    const epoch = loaded.meta?.epoch.n ?? 0
    const logPath = join(this.dir, 'pinset.log')
    let log = await readOptional(logPath)
    if (log === undefined || log.length < HEADER_BYTES) {
      await this.writeAtomically('pinset.log', LOG_MAGIC, new Uint8Array(0))
      log = await readFile(logPath)
    }
    checkHeader(log, LOG_MAGIC, 'pinset.log')
    let pos = HEADER_BYTES
    while (pos + 12 <= log.length) {
      const len = log.readUInt32BE(pos)
      const crc = log.readUInt32BE(pos + 4)
      const frameEpoch = log.readUInt32BE(pos + 8)
      if (pos + 12 + len > log.length) break
      const update = log.subarray(pos + 12, pos + 12 + len)
      if (crc32(update) !== crc) break
      if (frameEpoch === epoch) loaded.updates.push(update)
      pos += 12 + len
    }
    this.handle = await open(logPath, 'r+')
    if (pos < log.length) {
      // A crash in the middle of an append leaves a torn frame; it was never acknowledged.
      this.log.warn({ dropped: log.length - pos }, 'dropping the torn tail of the pinset log')
      await this.handle.truncate(pos)
      await this.handle.datasync()
    }
    await this.handle.close()
    this.handle = await open(logPath, 'a')
    this.logSize = pos
    return loaded
  }

  private async writeAtomically (name: string, magic: Buffer, payload: Uint8Array, tail?: Uint8Array): Promise<void> {
    const tmp = join(this.dir, `${name}.tmp`)
    const header = Buffer.alloc(HEADER_BYTES)
    magic.copy(header, 0)
    header.writeUInt32BE(PINSET_FORMAT_VERSION, 8)
    const fh = await open(tmp, 'w')
    try {
      await fh.write(header)
      if (payload.length > 0) await fh.write(payload)
      if (tail !== undefined && tail.length > 0) await writeAll(fh, tail)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, join(this.dir, name))
    const dirHandle = await open(this.dir, 'r')
    try { await dirHandle.sync() } finally { await dirHandle.close() }
  }
}

/** FileHandle.write may write less than asked; large buffers are written until done. */
async function writeAll (fh: FileHandle, data: Uint8Array): Promise<void> {
  let pos = 0
  while (pos < data.length) pos += (await fh.write(data, pos, data.length - pos)).bytesWritten
}

function u32 (n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n, 0)
  return b
}

function checkHeader (buf: Buffer, magic: Buffer, name: string): void {
  if (buf.length < HEADER_BYTES || !buf.subarray(0, 8).equals(magic)) {
    throw new InvalidDatastoreVersionError(`${name} is not a pinmesh pinset file`)
  }
  const version = buf.readUInt32BE(8)
  if (version !== PINSET_FORMAT_VERSION) {
    throw new InvalidDatastoreVersionError(`${name} has format version ${version}; this pinmesh reads version ${PINSET_FORMAT_VERSION}`)
  }
}

async function readOptional (path: string): Promise<Buffer | undefined> {
  try { return await readFile(path) } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Removes the stored pinset (tests and `pinmesh state clean`). */
export async function removeStore (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}
