import { open, rename, mkdir, readFile, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { InvalidDatastoreVersionError } from '../errors.js'
import type { Logger } from '../logger.js'

/**
 * Bump when the on-disk layout changes; a peer refuses to start on a version it does not read.
 * 2: the state file holds its Yjs state as a sequence of length-prefixed updates (version 1: one update).
 */
export const PINSET_FORMAT_VERSION = 2
/** Versions this code reads. */
const READABLE_VERSIONS = [1, 2]
/** Target size of one update of the state file: the state is written and loaded a part at a time. */
const STATE_PART_BYTES = 1 << 20

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
  /**
   * The compacted state, if one was written, as Yjs updates to apply in order. Read from the
   * file as they are consumed (a million pins are ~100 MB), so iterate it once, right away.
   */
  state?: AsyncIterable<Uint8Array>
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
 * u32 package length, package, then Yjs updates each as u32 length + update (format 1: one
 * update without length, to the end of the file); `pinset.log` = magic, u32 version, u32 reserved, then
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
   * Writes `state(maxBytes)` (called when the job runs, so it covers every update applied by then;
   * updates of about `maxBytes`, produced as they are written) as the new state file and starts an
   * empty log. Appends queued meanwhile land in the new log; replaying an update the state already
   * holds is harmless in Yjs.
   */
  async compact (state: (maxBytes: number) => Iterable<Uint8Array>, meta: StateMeta): Promise<void> {
    await this.enqueue(async () => {
      const json = Buffer.from(JSON.stringify({ epoch: meta.epoch }))
      const pkg = meta.package ?? new Uint8Array(0)
      let bytes = 0
      await this.writeAtomically('pinset.state', STATE_MAGIC, Buffer.concat([u32(json.length), json, u32(pkg.length), pkg]), async (fh) => {
        for (const part of state(STATE_PART_BYTES)) {
          await writeAll(fh, u32(part.length))
          await writeAll(fh, part)
          bytes += 4 + part.length
        }
      })
      await this.handle?.close()
      this.handle = undefined
      await this.writeAtomically('pinset.log', LOG_MAGIC, new Uint8Array(0))
      this.handle = await open(join(this.dir, 'pinset.log'), 'a')
      this.stateSize = bytes
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
    const statePath = join(this.dir, 'pinset.state')
    const head = await readHead(statePath)
    if (head !== undefined) {
      const version = checkHeader(head.bytes, STATE_MAGIC, 'pinset.state')
      let pos = HEADER_BYTES
      const metaLen = head.bytes.readUInt32BE(pos)
      const fixed = await readRange(statePath, 0, HEADER_BYTES + 4 + metaLen + 4)
      const meta = JSON.parse(fixed.subarray(pos + 4, pos + 4 + metaLen).toString()) as StateMeta
      pos += 4 + metaLen
      const pkgLen = fixed.readUInt32BE(pos)
      pos += 4
      if (pkgLen > 0) meta.package = await readRange(statePath, pos, pkgLen)
      pos += pkgLen
      loaded.meta = meta
      loaded.state = readStateParts(statePath, pos, head.size, version)
      this.stateSize = head.size - pos
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

  private async writeAtomically (name: string, magic: Buffer, payload: Uint8Array, rest?: (fh: FileHandle) => Promise<void>): Promise<void> {
    const tmp = join(this.dir, `${name}.tmp`)
    const header = Buffer.alloc(HEADER_BYTES)
    magic.copy(header, 0)
    header.writeUInt32BE(PINSET_FORMAT_VERSION, 8)
    const fh = await open(tmp, 'w')
    try {
      await fh.write(header)
      if (payload.length > 0) await fh.write(payload)
      await rest?.(fh)
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

/** Checks magic and version; returns the version. */
function checkHeader (buf: Buffer, magic: Buffer, name: string): number {
  if (buf.length < HEADER_BYTES || !buf.subarray(0, 8).equals(magic)) {
    throw new InvalidDatastoreVersionError(`${name} is not a pinmesh pinset file`)
  }
  const version = buf.readUInt32BE(8)
  if (!READABLE_VERSIONS.includes(version)) {
    throw new InvalidDatastoreVersionError(`${name} has format version ${version}; this pinmesh reads versions ${READABLE_VERSIONS.join(', ')}`)
  }
  return version
}

/** The first bytes of a file (header and meta length) and its size, or undefined if it does not exist. */
async function readHead (path: string): Promise<{ bytes: Buffer, size: number } | undefined> {
  let fh: FileHandle
  try { fh = await open(path, 'r') } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    const { size } = await fh.stat()
    const bytes = Buffer.alloc(Math.min(size, HEADER_BYTES + 4))
    await fh.read(bytes, 0, bytes.length, 0)
    return { bytes, size }
  } finally { await fh.close() }
}

async function readRange (path: string, position: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r')
  try {
    const buf = Buffer.alloc(length)
    const { bytesRead } = await fh.read(buf, 0, length, position)
    if (bytesRead < length) throw new InvalidDatastoreVersionError('pinset.state is truncated')
    return buf
  } finally { await fh.close() }
}

/** The Yjs updates of a state file from `pos`, one buffer at a time. */
async function * readStateParts (path: string, pos: number, size: number, version: number): AsyncGenerator<Uint8Array> {
  const fh = await open(path, 'r')
  const read = async (position: number, length: number): Promise<Buffer> => {
    const buf = Buffer.alloc(length)
    const { bytesRead } = await fh.read(buf, 0, length, position)
    if (bytesRead < length) throw new InvalidDatastoreVersionError('pinset.state is truncated')
    return buf
  }
  try {
    if (version === 1) {
      if (size > pos) yield await read(pos, size - pos)
      return
    }
    while (pos < size) {
      const len = (await read(pos, 4)).readUInt32BE(0)
      yield await read(pos + 4, len)
      pos += 4 + len
    }
  } finally { await fh.close() }
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
