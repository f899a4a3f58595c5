import { open, mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import type { Logger } from '../logger.js'
import {
  HEADER_BYTES, JobChain, LogTail, cutLogTail, fileHeader, headerProblem, isEpochMeta, moveAside, parseStateFile,
  readOptional, scanFrames, stateChunks, writeAtomically, writeError
} from './files.js'

/**
 * Bump when the on-disk layout changes; a peer refuses to start on a version it does not know.
 * Version 2 added a checksum of the whole state file and made a log frame's checksum cover its
 * epoch number too; version 1 files are still read (and written over by the next compaction).
 */
export const PINSET_FORMAT_VERSION = 2
const READABLE_VERSIONS = [1, 2]

const STATE_MAGIC = Buffer.from('PMSTATE\0')
const LOG_MAGIC = Buffer.from('PMLOG\0\0\0')

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
  private tail?: LogTail
  private readonly chain: JobChain
  private batch: Array<{ frame: Buffer, resolve: () => void, reject: (err: unknown) => void }> = []
  /** Frames whose write failed, written again before any newer frame (see the class comment). */
  private retry: Buffer[] = []
  /** Format version of the open log; frames are written in its format. */
  private logVersion = PINSET_FORMAT_VERSION
  private stateEpochN = 0
  private stateSize = 0
  private closed = false

  private constructor (dir: string, log: Logger) {
    this.dir = dir
    this.log = log
    this.chain = new JobChain((err) => { log.error({ err }, 'pinset store write failed') })
  }

  /** Opens (creating if needed) the store in `dir` and returns what it holds. */
  static async open (dir: string, log: Logger): Promise<{ store: PinsetStore, loaded: LoadedPinset }> {
    await mkdir(dir, { recursive: true })
    const store = new PinsetStore(dir, log)
    const loaded = await store.load()
    return { store, loaded }
  }

  get logBytes (): number { return this.tail?.size ?? 0 }
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
    if (this.batch.length === 1) this.chain.run(async () => { await this.flush() }).catch(() => { /* reported to every waiter */ })
    return await promise
  }

  /**
   * Writes `state()` (called when the job runs, so it covers every update applied by then) as the
   * new state file and starts an empty log. Appends queued meanwhile land in the new log; replaying
   * an update the state already holds is harmless in Yjs.
   */
  async compact (state: () => Uint8Array, meta: StateMeta): Promise<void> {
    await this.chain.run(async () => {
      const bytes = state()
      try {
        await writeAtomically(this.dir, 'pinset.state', [fileHeader(STATE_MAGIC, PINSET_FORMAT_VERSION), ...stateChunks({ epoch: meta.epoch }, meta.package, bytes)])
      } catch (err) {
        throw writeError(err)
      }
      this.stateSize = bytes.length
      this.stateEpochN = meta.epoch.n
      // The state holds every update applied so far, the failed ones too.
      this.retry = []
      const old = this.tail
      this.tail = undefined
      await old?.handle.close()
      let logSize = old?.size ?? 0
      let torn = old?.torn ?? false
      try {
        await this.writeLog()
        logSize = HEADER_BYTES
        torn = false
        this.logVersion = PINSET_FORMAT_VERSION
      } finally {
        // On failure the old log stays (its frames are of an older epoch or already in the state),
        // unless only the directory sync failed and the new one is in place.
        const handle = await open(join(this.dir, 'pinset.log'), 'a')
        const size = (await handle.stat()).size
        if (size < logSize) { logSize = size; torn = false }
        this.tail = new LogTail(handle, logSize, torn)
      }
    })
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.chain.idle()
    await this.tail?.handle.close()
    this.tail = undefined
  }

  private async flush (): Promise<void> {
    const batch = this.batch
    this.batch = []
    const frames = [...this.retry, ...batch.map(b => b.frame)]
    try {
      if (this.tail === undefined) throw new Error('pinset log is not open')
      await this.tail.append(Buffer.concat(frames))
      this.retry = []
      for (const b of batch) b.resolve()
    } catch (err) {
      this.retry = frames
      const e = writeError(err)
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
    const logProblem = log === undefined ? undefined : headerProblem(log, LOG_MAGIC, 'pinset.log', READABLE_VERSIONS)
    if (log === undefined || logProblem !== undefined) {
      if (log !== undefined) {
        const aside = await moveAside(this.dir, 'pinset.log')
        loaded.dropped.push(`pinset log unreadable (${logProblem}): moved to ${aside}; ${log.length} bytes of updates dropped, to be re-synced from peers`)
        this.log.error(loaded.dropped.at(-1))
      }
      await this.writeLog()
      log = await readFile(logPath)
    }
    const version = this.logVersion = log.readUInt32BE(8)
    const scan = scanFrames(log, HEADER_BYTES, 12,
      (fields, update) => version === 1 ? crc32(update) : crc32(update, crc32(fields)),
      (fields, update) => { if (fields.readUInt32BE(0) === epoch) loaded.updates.push(update) })
    const handle = await open(logPath, 'r+')
    try {
      const said = await cutLogTail(this.dir, 'pinset.log', 'pinset log', handle, log.length, scan, this.log)
      if (said !== undefined) loaded.dropped.push(said)
    } finally {
      await handle.close()
    }
    this.tail = new LogTail(await open(logPath, 'a'), scan.end)
    return loaded
  }

  /**
   * Moves both files aside (see `setAside`) and starts empty: for a state this peer cannot read, or
   * one that does not decode. Returns the sentence it logged.
   */
  async setAsideAll (reason: string): Promise<string> {
    await this.tail?.handle.close()
    this.tail = undefined
    const state = await moveAside(this.dir, 'pinset.state')
    const log = await moveAside(this.dir, 'pinset.log')
    await this.writeLog()
    this.tail = new LogTail(await open(join(this.dir, 'pinset.log'), 'a'), HEADER_BYTES)
    this.stateSize = 0
    this.stateEpochN = 0
    this.logVersion = PINSET_FORMAT_VERSION
    this.retry = []
    const moved = [state, log].filter(f => f !== undefined).join(' and ')
    const what = `${reason}: moved ${moved === '' ? 'nothing' : `to ${moved}`}; starting empty and re-syncing from peers`
    this.log.error(what)
    return what
  }

  /** Starts an empty log. */
  private async writeLog (): Promise<void> {
    await writeAtomically(this.dir, 'pinset.log', [fileHeader(LOG_MAGIC, PINSET_FORMAT_VERSION)])
  }
}

/** The state file's meta and Yjs update, or why it cannot be read. */
function parseState (buf: Buffer): { meta: StateMeta, state: Uint8Array } | string {
  const parsed = parseStateFile(buf, STATE_MAGIC, 'pinset.state', READABLE_VERSIONS)
  if (typeof parsed === 'string') return parsed
  if (!isEpochMeta(parsed.meta)) return 'metadata has no epoch'
  const meta: StateMeta = { epoch: parsed.meta.epoch }
  if (parsed.package !== undefined) meta.package = parsed.package
  return { meta, state: parsed.doc }
}

/** Removes the stored pinset (tests and `pinmesh state clean`). */
export async function removeStore (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}
