import { open, rename, mkdir, readFile, rm, copyFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { InvalidDatastoreVersionError, PinsetWriteError } from '../errors.js'
import type { Logger } from '../logger.js'

/**
 * Bump when the on-disk layout changes; a peer refuses to start on a version it does not know.
 * Version 2 added a checksum of the whole state file and made a log frame's checksum cover its
 * epoch number too; version 1 files are still read (and written over by the next compaction).
 */
export const PINSET_FORMAT_VERSION = 2
const READABLE_VERSIONS = [1, 2]

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
  /** What was found damaged and set aside at open, one sentence each (also logged). */
  dropped: string[]
}

/**
 * Durable storage of the replicated pinset: a compacted state file plus an append-only log of
 * updates since. `append` resolves only once the update is on disk (fdatasync), and appends that
 * arrive while a write is in flight share the next one (group commit). `compact` replaces both
 * files by one state, so restart time follows the live pinset rather than its history.
 *
 * Files: `pinset.state` = magic, u32 format version, u32 crc32 of the rest (version 2), u32 meta
 * length, meta JSON, u32 package length, package, Yjs update; `pinset.log` = magic, u32 version,
 * then frames of u32 length, u32 crc32 (of epoch number and update; of the update alone in
 * version 1), u32 epoch number, update. Frames of another epoch than the state's are skipped on load.
 *
 * A failed write (disk full) is never acknowledged and never leaves a torn frame that later frames
 * follow: the log is cut back to its last whole frame before anything else is appended, and the
 * failed frames are written again, first, with the next append (they are in the in-memory document
 * already, and later updates may build on them). A damaged file found at open is kept (moved or
 * copied) as `<name>.corrupt-<time>`; what could not be read is logged and left to catch-up from peers.
 */
export class PinsetStore {
  private readonly dir: string
  private readonly log: Logger
  private handle?: FileHandle
  private chain: Promise<void> = Promise.resolve()
  private batch: Array<{ frame: Buffer, resolve: () => void, reject: (err: unknown) => void }> = []
  /** Frames whose write failed, written again before any newer frame (see the class comment). */
  private retry: Buffer[] = []
  /** The log may end past `logSize` (a failed write): cut it back before writing. */
  private torn = false
  /** Format version of the open log; frames are written in its format. */
  private logVersion = PINSET_FORMAT_VERSION
  private stateEpochN = 0
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
  /**
   * The epoch number of the state on disk. Log frames of another epoch are skipped on load, so an
   * update of another epoch must go through `compact`, not `append`.
   */
  get stateEpoch (): number { return this.stateEpochN }

  /**
   * Appends one update of epoch number `epoch`; resolves when it is on disk. Rejects with a
   * PinsetWriteError when it cannot be written; the update is then written with the next append
   * or compaction that succeeds.
   */
  async append (update: Uint8Array, epoch: number): Promise<void> {
    if (this.closed) throw new Error('pinset store is closed')
    const frame = Buffer.allocUnsafe(12 + update.length)
    frame.writeUInt32BE(update.length, 0)
    frame.writeUInt32BE(epoch, 8)
    frame.writeUInt32BE(this.logVersion === 1 ? crc32(update) : crc32(update, crc32(frame.subarray(8, 12))), 4)
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
      const head = Buffer.concat([u32(json.length), json, u32(pkg.length), pkg])
      // The state is written as it is, not concatenated with the rest: at a million pins it is ~100 MB.
      try {
        await this.writeAtomically('pinset.state', STATE_MAGIC, Buffer.concat([u32(crc32(bytes, crc32(head))), head]), bytes)
      } catch (err) {
        throw new PinsetWriteError(`cannot write the pinset to disk: ${(err as Error).message}`, { cause: err })
      }
      this.stateSize = bytes.length
      this.stateEpochN = meta.epoch.n
      // The state holds every update applied so far, the failed ones too.
      this.retry = []
      await this.handle?.close()
      this.handle = undefined
      const logPath = join(this.dir, 'pinset.log')
      try {
        await this.writeAtomically('pinset.log', LOG_MAGIC, new Uint8Array(0))
        this.logSize = HEADER_BYTES
        this.torn = false
        this.logVersion = PINSET_FORMAT_VERSION
      } finally {
        // On failure the old log stays (its frames are of an older epoch or already in the state),
        // unless only the directory sync failed and the new one is in place.
        this.handle = await open(logPath, 'a')
        const size = (await this.handle.stat()).size
        if (size < this.logSize) { this.logSize = size; this.torn = false }
      }
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
    const frames = [...this.retry, ...batch.map(b => b.frame)]
    try {
      const handle = this.handle
      if (handle === undefined) throw new Error('pinset log is not open')
      if (this.torn) {
        await handle.truncate(this.logSize)
        this.torn = false
      }
      const data = Buffer.concat(frames)
      try {
        await writeAll(handle, data)
        await handle.datasync()
      } catch (err) {
        // Part of `data` may be in the file: cut it back now if possible, else before the next write.
        this.torn = true
        await handle.truncate(this.logSize).then(() => { this.torn = false }, () => {})
        throw err
      }
      this.logSize += data.length
      this.retry = []
      for (const b of batch) b.resolve()
    } catch (err) {
      this.retry = frames
      const e = new PinsetWriteError(`cannot write the pinset to disk: ${(err as Error).message}`, { cause: err })
      for (const b of batch) b.reject(e)
      throw e
    }
  }

  private async load (): Promise<LoadedPinset> {
    const loaded: LoadedPinset = { updates: [], dropped: [] }
    const state = await readOptional(join(this.dir, 'pinset.state'))
    if (state !== undefined) {
      const parsed = parseState(state)
      if (typeof parsed === 'string') {
        loaded.dropped.push(await this.setAsideAll(`pinset state file unreadable (${parsed})`))
        return loaded
      }
      loaded.meta = parsed.meta
      loaded.state = parsed.state
      this.stateSize = parsed.state.length
      this.stateEpochN = parsed.meta.epoch.n
    }
    const epoch = this.stateEpochN
    const logPath = join(this.dir, 'pinset.log')
    let log = await readOptional(logPath)
    const logProblem = log === undefined ? undefined : headerProblem(log, LOG_MAGIC, 'pinset.log')
    if (log === undefined || logProblem !== undefined) {
      if (log !== undefined) {
        const aside = await this.setAside('pinset.log')
        loaded.dropped.push(`pinset log unreadable (${logProblem}): moved to ${aside}; ${log.length} bytes of updates dropped, to be re-synced from peers`)
        this.log.error(loaded.dropped.at(-1))
      }
      await this.writeAtomically('pinset.log', LOG_MAGIC, new Uint8Array(0))
      log = await readFile(logPath)
    }
    this.logVersion = log.readUInt32BE(8)
    let pos = HEADER_BYTES
    let frames = 0
    let problem: string | undefined
    while (pos < log.length) {
      if (pos + 12 > log.length) { problem = 'incomplete frame header'; break }
      const len = log.readUInt32BE(pos)
      const crc = log.readUInt32BE(pos + 4)
      const frameEpoch = log.readUInt32BE(pos + 8)
      if (pos + 12 + len > log.length) { problem = `incomplete frame of ${len} bytes`; break }
      const update = log.subarray(pos + 12, pos + 12 + len)
      const expected = this.logVersion === 1 ? crc32(update) : crc32(update, crc32(log.subarray(pos + 8, pos + 12)))
      if (expected !== crc) { problem = 'checksum mismatch'; break }
      if (frameEpoch === epoch) loaded.updates.push(update)
      pos += 12 + len
      frames++
    }
    this.handle = await open(logPath, 'r+')
    if (problem !== undefined) {
      const dropped = log.length - pos
      // An incomplete last frame is what a crash in the middle of an append leaves: it was never
      // acknowledged. Anything else is damage: the file is kept as it was for inspection.
      const torn = problem.startsWith('incomplete')
      const aside = torn ? undefined : await this.copyAside('pinset.log')
      const what = `pinset log: dropped ${dropped} bytes after frame ${frames} at offset ${pos} (${problem})`
      if (torn) {
        this.log.warn({ dropped, frames, offset: pos }, `${what}; a write torn by a crash or a truncated file`)
      } else {
        loaded.dropped.push(`${what}; the original is kept as ${aside}; the rest is re-synced from peers`)
        this.log.error({ dropped, frames, offset: pos }, loaded.dropped.at(-1))
      }
      await this.handle.truncate(pos)
      await this.handle.datasync()
    }
    await this.handle.close()
    this.handle = await open(logPath, 'a')
    this.logSize = pos
    return loaded
  }

  /**
   * Moves both files aside (see `setAside`) and starts empty: for a state this peer cannot read, or
   * one that does not decode. Returns the sentence it logged.
   */
  async setAsideAll (reason: string): Promise<string> {
    await this.handle?.close()
    this.handle = undefined
    const state = await this.setAside('pinset.state')
    const log = await this.setAside('pinset.log')
    await this.writeAtomically('pinset.log', LOG_MAGIC, new Uint8Array(0))
    this.handle = await open(join(this.dir, 'pinset.log'), 'a')
    this.logSize = HEADER_BYTES
    this.stateSize = 0
    this.stateEpochN = 0
    this.logVersion = PINSET_FORMAT_VERSION
    this.retry = []
    this.torn = false
    const moved = [state, log].filter(f => f !== undefined).join(' and ')
    const what = `${reason}: moved ${moved === '' ? 'nothing' : `to ${moved}`}; starting empty and re-syncing from peers`
    this.log.error(what)
    return what
  }

  /** Renames `name` to `<name>.corrupt-<time>` (nothing is deleted); its new name, or undefined if it did not exist. */
  private async setAside (name: string): Promise<string | undefined> {
    const to = asideName(name)
    try {
      await rename(join(this.dir, name), join(this.dir, to))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    return to
  }

  private async copyAside (name: string): Promise<string> {
    const to = asideName(name)
    await copyFile(join(this.dir, name), join(this.dir, to))
    return to
  }

  private async writeAtomically (name: string, magic: Buffer, payload: Uint8Array, tail?: Uint8Array): Promise<void> {
    const tmp = join(this.dir, `${name}.tmp`)
    const header = Buffer.alloc(HEADER_BYTES)
    magic.copy(header, 0)
    header.writeUInt32BE(PINSET_FORMAT_VERSION, 8)
    try {
      const fh = await open(tmp, 'w')
      try {
        await writeAll(fh, header)
        if (payload.length > 0) await writeAll(fh, payload)
        if (tail !== undefined && tail.length > 0) await writeAll(fh, tail)
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(tmp, join(this.dir, name))
    } catch (err) {
      // A half-written temporary file would hold on to the space a full disk needs back.
      await rm(tmp, { force: true }).catch(() => {})
      throw err
    }
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

/**
 * Why `buf` is not a readable pinset file, or undefined when it is. A file of a version this
 * pinmesh does not know is not damage: it throws, and the peer refuses to start rather than
 * setting aside another release's data.
 */
function headerProblem (buf: Buffer, magic: Buffer, name: string): string | undefined {
  if (buf.length < HEADER_BYTES) return `${buf.length} bytes, shorter than its header`
  if (!buf.subarray(0, 8).equals(magic)) return 'not a pinmesh pinset file: bad magic bytes'
  const version = buf.readUInt32BE(8)
  if (!READABLE_VERSIONS.includes(version)) {
    throw new InvalidDatastoreVersionError(`${name} has format version ${version}; this pinmesh reads versions ${READABLE_VERSIONS.join(' and ')}`)
  }
  return undefined
}

/** The state file's meta and Yjs update, or why it cannot be read. */
function parseState (buf: Buffer): { meta: StateMeta, state: Uint8Array } | string {
  const problem = headerProblem(buf, STATE_MAGIC, 'pinset.state')
  if (problem !== undefined) return problem
  let pos = HEADER_BYTES
  if (buf.readUInt32BE(8) >= 2) {
    if (buf.length < pos + 4) return 'truncated: no checksum'
    if (crc32(buf.subarray(pos + 4)) !== buf.readUInt32BE(pos)) return 'checksum mismatch'
    pos += 4
  }
  if (buf.length < pos + 4) return 'truncated: no metadata'
  const metaLen = buf.readUInt32BE(pos)
  if (buf.length < pos + 8 + metaLen) return 'truncated in its metadata'
  let meta: StateMeta
  try {
    meta = JSON.parse(buf.subarray(pos + 4, pos + 4 + metaLen).toString()) as StateMeta
  } catch (err) {
    return `metadata is not JSON: ${(err as Error).message}`
  }
  if (typeof meta?.epoch?.n !== 'number' || typeof meta.epoch.leader !== 'string') return 'metadata has no epoch'
  pos += 4 + metaLen
  const pkgLen = buf.readUInt32BE(pos)
  if (buf.length < pos + 4 + pkgLen) return 'truncated in its epoch package'
  if (pkgLen > 0) meta.package = buf.subarray(pos + 4, pos + 4 + pkgLen)
  pos += 4 + pkgLen
  return { meta, state: buf.subarray(pos) }
}

function asideName (name: string): string {
  return `${name}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`
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
