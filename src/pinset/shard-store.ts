import { open, mkdir, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises'
import { closeSync, fstatSync, openSync, readFileSync, readSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { InvalidConfigurationError, InvalidDatastoreVersionError, PinsetWriteError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { EpochId } from './epoch.js'
import { MAX_SHARDS, MIN_SHARDS } from './shard-key.js'
import {
  HEADER_BYTES, JobChain, LogTail, asideName, cutLogTail, fileHeader, headerProblem, isEpochMeta, moveAside, parseStateFile,
  readOptional, scanFrames, stateChunks, stateHeadLength, syncDir, writeAtomically, writeError
} from './files.js'

/**
 * Version of the sharded layout (manifest.json, WAL segments, shard state files). A peer refuses to
 * start on a manifest or file of a version it does not know.
 */
export const SHARD_FORMAT_VERSION = 3
const READABLE = [SHARD_FORMAT_VERSION]

const STATE_MAGIC = Buffer.from('PMSHARD\0')
const WAL_MAGIC = Buffer.from('PMWAL\0\0\0')
/** u32 length, u32 crc32, u32 shard, u32 epoch number. */
const FRAME_HEADER = 16
/** State files written at once by `writeStates` (each is written, fsynced and renamed). */
const WRITE_CONCURRENCY = 32
/** What `open` reads of each state file at first: its meta and package usually fit. */
const HEAD_BYTES = 4096
const LEGACY_FILES = ['pinset.state', 'pinset.log']

/** What a shard's state file says about the shard. */
export interface ShardMeta {
  epoch: EpochId
  /** The encoded EpochPackage that made this epoch. */
  package?: Uint8Array
  /** Live pins in the shard. */
  pins: number
  /** Tombstones in the shard. */
  tombstones: number
  /** 16 bytes, opaque to the store. */
  digest: Uint8Array
}

/** One update of the write-ahead log: a Yjs update of `shard` in its epoch number `epoch`. */
export interface WalFrame { shard: number, epoch: number, update: Uint8Array }

export interface OpenedShardStore {
  store: ShardStore
  /** From manifest.json, or `init.shards` for a directory without one (then written). */
  shards: number
  /**
   * Meta of every shard that has a state file (the state bytes are NOT kept in memory). Only the
   * start of each file is read, so that startup does not read every pin: a file whose start is
   * unreadable is set aside here, while damage further in (its checksum) is found by `readState`.
   */
  metas: Map<number, ShardMeta>
  /** WAL frames of all live segments, oldest first (a torn tail dropped), every epoch included. */
  wal: WalFrame[]
  /** What was found damaged and set aside, one sentence each (also logged). */
  dropped: string[]
  /**
   * True when the directory holds no manifest.json but a single-document pinset (`pinset.state` and/or
   * `pinset.log` of formats 1 or 2, see store.ts). The caller migrates it (reading it with the existing
   * PinsetStore), writes the shards, then calls `completeMigration()`. Until then the store writes no
   * manifest. State files and WAL segments found beside the legacy files are what an interrupted
   * migration left: they are removed at open (`metas` and `wal` are then empty), the legacy files
   * being intact and nothing acknowledged in the sharded layout before its manifest exists.
   */
  legacy: boolean
}

/** Where an appended update sits in the WAL: segment, byte offset of the update, its length. */
export interface WalRef { readonly seq: number, readonly offset: number, readonly length: number }

/** Appends that share one write, for segment `seq`. */
interface Batch { seq: number, items: Array<{ frame: Buffer, resolve: (ref: WalRef) => void, reject: (err: unknown) => void }> }

/**
 * Durable storage of the sharded pinset (layout format 3), in its directory:
 * - `manifest.json`: `{"format":3,"shards":N}`, written once (atomically);
 * - `wal-<seq, 8 digits>.log`: the write-ahead log of every shard, in segments: magic, u32 version,
 *   then frames of u32 length, u32 crc32 (of shard, epoch and update), u32 shard, u32 epoch number, update;
 * - `shards/<shard, 3 hex digits>.state`: a shard's compacted state: magic, u32 version, u32 crc32 of
 *   the rest, u32 meta length, meta JSON (`{epoch:{n,leader}, pins, tombstones, digest (hex)}`), u32
 *   package length, epoch package, Yjs update.
 *
 * `append` resolves once its frame is on disk; appends that arrive while a write is in flight share
 * the next fdatasync (group commit). A checkpoint is `rotate()`, `writeStates(dirty shards)`, then
 * `dropSegmentsBefore(seq)`. A failed write (disk full) is never acknowledged and never leaves a torn
 * frame that later frames follow: the segment is cut back to its last whole frame, and the failed
 * frames are written again, first, with the next append (the in-memory shards hold them already,
 * and later updates may build on them). Damage found at open (a segment, the start of a state file)
 * or by `readState` (a state file's checksum) is kept aside as `<name>.corrupt-<time>` and said
 * (in `dropped` at open, in the log always); what was lost is left to re-sync from peers.
 *
 * A checkpoint must write the state of every shard with frames in the segments it drops, those whose
 * appends failed included: `dropSegmentsBefore` forgets failed frames appended before the rotation.
 */
export class ShardStore {
  private readonly dir: string
  private readonly shardsDir: string
  private readonly log: Logger
  private readonly shardCount: number
  private tail?: LogTail
  /** Sequence number of the open segment. */
  private seq = 0
  /** The segment appends go to from now on (ahead of `seq` while a rotation is pending). */
  private wantSeq = 0
  /** Sizes of the live segments, by sequence number (the open one's is `tail.size`). */
  private readonly segments = new Map<number, number>()
  /** WAL writes, rotations and drops, in order. */
  private readonly chain: JobChain
  /** State writes (beside the WAL's, so that a large checkpoint does not hold appends back). */
  private readonly stateChain = new JobChain(() => { /* reported to the caller */ })
  /** The batch new appends join; its write is queued on `chain`. Undefined once that write has started. */
  private batch?: Batch
  /** Frames whose write failed, written again before any newer frame, with the segment they were appended for. */
  private retry: Array<{ frame: Buffer, seq: number }> = []
  private shardsDirMade = false
  private closed = false

  private constructor (dir: string, log: Logger, shards: number) {
    this.dir = dir
    this.shardsDir = join(dir, 'shards')
    this.log = log
    this.shardCount = shards
    this.chain = new JobChain((err) => { log.error({ err }, 'pinset store write failed') })
  }

  /** Opens (creating if needed) the sharded store in `dir` and returns what it holds. */
  static async open (dir: string, log: Logger, init: { shards: number }): Promise<OpenedShardStore> {
    await mkdir(dir, { recursive: true })
    const manifest = await readManifest(dir)
    let legacy = false
    let shards = init.shards
    if (manifest !== undefined) {
      if (manifest.shards !== init.shards) {
        log.warn({ manifest: manifest.shards, configured: init.shards }, `the pinset directory has ${manifest.shards} shards (manifest.json), not the ${init.shards} configured: the shard count is fixed when the directory is created, so ${manifest.shards} it is`)
      }
      shards = manifest.shards
    } else {
      if (!validShardCount(init.shards)) throw new InvalidConfigurationError([`pinset.shards: ${init.shards} is not a power of two from ${MIN_SHARDS} to ${MAX_SHARDS}`])
      const names = await readdir(dir)
      legacy = LEGACY_FILES.some(name => names.includes(name))
      if (!legacy && names.some(name => name === 'shards' || /^wal-\d{8}\.log$/.test(name))) {
        // Only a migration writes shard files before the manifest, and it keeps the legacy files until after.
        throw new InvalidDatastoreVersionError(`the pinset directory ${dir} holds shard files but no manifest.json, so its shard count is unknown; restore its manifest.json ({"format":${SHARD_FORMAT_VERSION},"shards":N})`)
      }
    }
    const store = new ShardStore(dir, log, shards)
    const opened: OpenedShardStore = { store, shards, metas: new Map(), wal: [], dropped: [], legacy }
    if (legacy) {
      await store.removeLeftovers()
    } else {
      if (manifest === undefined) await store.writeManifest()
      else await store.finishMigration()
      opened.metas = await store.readMetas(opened.dropped)
    }
    await store.loadWal(opened.wal, opened.dropped)
    return opened
  }

  /** Bytes in all live WAL segments. */
  get walBytes (): number {
    let n = this.tail?.size ?? 0
    for (const [seq, size] of this.segments) if (seq !== this.seq) n += size
    return n
  }

  /**
   * The state file of `shard`, read and checked synchronously (a shard decoded on demand), or
   * undefined when it has none. A damaged file is renamed `<name>.corrupt-<time>`, logged, and
   * undefined returned: the shard then re-syncs from peers.
   */
  readState (shard: number): { meta: ShardMeta, state: Uint8Array } | undefined {
    const name = stateName(shard)
    const path = join(this.shardsDir, name)
    let buf: Buffer
    try {
      buf = readFileSync(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    const parsed = parseShardState(buf, name)
    if (typeof parsed !== 'string') return parsed
    const to = asideName(name)
    renameSync(path, join(this.shardsDir, to))
    this.stateDropped(shard, parsed, to, buf.length)
    return undefined
  }

  /**
   * Appends `update` of `shard` in epoch number `epoch`; resolves once it is on disk, with where it
   * is (see `readUpdates`). Rejects with a PinsetWriteError when it cannot be written; the frame is
   * then written, first, with the next append (or dropped by `dropSegmentsBefore` once a state holds
   * it), at a place the caller is not told.
   */
  async append (shard: number, update: Uint8Array, epoch: number): Promise<WalRef> {
    if (this.closed) throw new Error('pinset store is closed')
    const frame = Buffer.allocUnsafe(FRAME_HEADER + update.length)
    frame.writeUInt32BE(update.length, 0)
    frame.writeUInt32BE(shard, 8)
    frame.writeUInt32BE(epoch, 12)
    frame.set(update, FRAME_HEADER)
    frame.writeUInt32BE(crc32(update, crc32(frame.subarray(8, FRAME_HEADER))), 4)
    const { promise, resolve, reject } = Promise.withResolvers<WalRef>()
    let batch = this.batch
    if (batch === undefined) {
      const b: Batch = batch = this.batch = { seq: this.wantSeq, items: [] }
      this.chain.run(async () => { await this.flush(b) }).catch(() => { /* reported to every waiter */ })
    }
    batch.items.push({ frame, resolve, reject })
    return await promise
  }

  /**
   * Writes these shards' state files atomically (each to a temporary file, fsynced, renamed), then
   * syncs the directory once. Rejects with a PinsetWriteError; no temporary file is left behind, and
   * each state file is either the old or the new one. A shard given twice is written once, as its last entry.
   */
  async writeStates (given: ReadonlyArray<{ shard: number, meta: ShardMeta, state: Uint8Array }>): Promise<void> {
    if (this.closed) throw new Error('pinset store is closed')
    // Two writes of one shard at once would share its temporary file.
    const entries = [...new Map(given.map(e => [e.shard, e])).values()]
    await this.stateChain.run(async () => {
      try {
        await this.makeShardsDir()
        let next = 0
        const worker = async (): Promise<void> => {
          while (next < entries.length) {
            const e = entries[next++] as typeof entries[number]
            const chunks = [fileHeader(STATE_MAGIC, SHARD_FORMAT_VERSION), ...stateChunks(metaJson(e.meta), e.meta.package, e.state)]
            try {
              await writeAtomically(this.shardsDir, stateName(e.shard), chunks, false)
            } catch (err) {
              next = entries.length // the other workers stop too
              throw err
            }
          }
        }
        // Every worker is awaited (allSettled), so that none still writes when this rejects.
        const results = await Promise.allSettled(Array.from({ length: Math.min(WRITE_CONCURRENCY, entries.length) }, worker))
        const failed = results.find(r => r.status === 'rejected')
        if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
        if (entries.length > 0) await syncDir(this.shardsDir)
      } catch (err) {
        throw writeError(err)
      }
    })
  }

  /**
   * Starts a new WAL segment for every append from now on, and returns its sequence number. Appends
   * made before finish in the old segment first. Rejects with a PinsetWriteError when the segment
   * cannot be created (disk full); the next write creates it first (and fails while it cannot).
   */
  async rotate (): Promise<number> {
    const seq = ++this.wantSeq
    this.batch = undefined
    await this.chain.run(async () => {
      if (seq > this.seq) await this.openSegment(seq)
    })
    return seq
  }

  /**
   * Deletes every segment older than `seq` (once the states of all shards with frames in them are
   * written), and forgets the failed frames appended before that rotation (the states hold them).
   */
  async dropSegmentsBefore (seq: number): Promise<void> {
    await this.chain.run(async () => {
      this.retry = this.retry.filter(r => r.seq >= seq)
      const old = [...this.segments.keys()].filter(s => s < seq && s !== this.seq)
      for (const s of old) {
        await rm(join(this.dir, segmentName(s)), { force: true })
        this.segments.delete(s)
      }
      if (old.length > 0) await syncDir(this.dir)
    })
  }

  /**
   * The updates at `refs` (appended and acknowledged: in live segments, whole), read back
   * synchronously (a shard decoded on demand). Throws on an I/O error.
   */
  readUpdates (refs: readonly WalRef[]): Uint8Array[] {
    const out: Uint8Array[] = []
    const fds = new Map<number, number>()
    try {
      for (const ref of refs) {
        let fd = fds.get(ref.seq)
        if (fd === undefined) { fd = openSync(join(this.dir, segmentName(ref.seq)), 'r'); fds.set(ref.seq, fd) }
        const buf = Buffer.allocUnsafe(ref.length)
        let at = 0
        while (at < ref.length) {
          const n = readSync(fd, buf, at, ref.length - at, ref.offset + at)
          if (n === 0) throw new Error(`pinset WAL segment ${segmentName(ref.seq)} ends before an update it holds (at ${ref.offset}, ${ref.length} bytes)`)
          at += n
        }
        out.push(buf)
      }
    } finally {
      for (const fd of fds.values()) closeSync(fd)
    }
    return out
  }

  /** Writes manifest.json and renames the single-document files to `pinset.state.pre-shard` / `pinset.log.pre-shard`. */
  async completeMigration (): Promise<void> {
    await this.writeManifest()
    await this.finishMigration()
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.chain.idle()
    await this.stateChain.idle()
    await this.tail?.handle.close()
    this.tail = undefined
  }

  private async flush (batch: Batch): Promise<void> {
    if (this.batch === batch) this.batch = undefined
    const frames = [...this.retry, ...batch.items.map(b => ({ frame: b.frame, seq: batch.seq }))]
    try {
      // A rotation whose segment could not be created yet.
      if (batch.seq > this.seq) await this.openSegment(batch.seq)
      if (this.tail === undefined) throw new Error('pinset WAL is not open')
      const seq = this.seq
      let offset = this.tail.size
      await this.tail.append(Buffer.concat(frames.map(f => f.frame)))
      this.retry = []
      const refs = frames.map(f => { const ref = { seq, offset: offset + FRAME_HEADER, length: f.frame.length - FRAME_HEADER }; offset += f.frame.length; return ref })
      batch.items.forEach((b, i) => { b.resolve(refs[frames.length - batch.items.length + i] as WalRef) })
    } catch (err) {
      this.retry = frames
      const e = err instanceof PinsetWriteError ? err : writeError(err)
      for (const b of batch.items) b.reject(e)
      throw e
    }
  }

  /** Creates segment `seq` (atomically: a segment is its header or more) and makes it the open one. */
  private async openSegment (seq: number): Promise<void> {
    const name = segmentName(seq)
    let handle: FileHandle
    try {
      await writeAtomically(this.dir, name, [fileHeader(WAL_MAGIC, SHARD_FORMAT_VERSION)])
      handle = await open(join(this.dir, name), 'a')
    } catch (err) {
      throw writeError(err)
    }
    const old = this.tail
    if (old !== undefined) {
      this.segments.set(this.seq, old.size)
      // The old segment must not end in a torn frame; if it cannot be cut back now, a reader drops it as one.
      if (old.torn) await old.handle.truncate(old.size).catch(() => {})
      await old.handle.close()
    }
    this.tail = new LogTail(handle, HEADER_BYTES)
    this.seq = seq
    this.segments.set(seq, HEADER_BYTES)
  }

  private async loadWal (wal: WalFrame[], dropped: string[]): Promise<void> {
    let foreign = 0
    const seqs = (await readdir(this.dir)).map(f => /^wal-(\d{8})\.log$/.exec(f)?.[1]).filter(s => s !== undefined).map(Number).sort((a, b) => a - b)
    for (const seq of seqs) {
      const name = segmentName(seq)
      const path = join(this.dir, name)
      const buf = await readFile(path)
      const problem = headerProblem(buf, WAL_MAGIC, name, READABLE)
      if (problem !== undefined) {
        const aside = await moveAside(this.dir, name)
        dropped.push(`pinset WAL segment ${name} unreadable (${problem}): moved to ${aside}; ${buf.length} bytes of updates dropped, to be re-synced from peers`)
        this.log.error(dropped.at(-1))
        continue
      }
      const scan = scanFrames(buf, HEADER_BYTES, FRAME_HEADER,
        (fields, update) => crc32(update, crc32(fields)),
        (fields, update) => {
          const shard = fields.readUInt32BE(0)
          if (shard < this.shardCount) wal.push({ shard, epoch: fields.readUInt32BE(4), update })
          else foreign++
        })
      if (scan.problem !== undefined) {
        const handle = await open(path, 'r+')
        try {
          const said = await cutLogTail(this.dir, name, `pinset WAL ${name}`, handle, buf.length, scan, this.log)
          if (said !== undefined) dropped.push(said)
        } finally {
          await handle.close()
        }
      }
      this.segments.set(seq, scan.end)
    }
    if (foreign > 0) this.log.warn({ frames: foreign }, `pinset WAL: ${foreign} frames of shards beyond the ${this.shardCount} of this pinset ignored`)
    const last = seqs.filter(s => this.segments.has(s)).at(-1)
    this.wantSeq = Math.max(0, ...seqs)
    if (last !== undefined && last === this.wantSeq) {
      this.seq = last
      this.tail = new LogTail(await open(join(this.dir, segmentName(last)), 'a'), this.segments.get(last) ?? HEADER_BYTES)
    } else {
      // A fresh directory, or the newest segment was set aside: appends go on in a new one.
      this.wantSeq++
      await this.openSegment(this.wantSeq)
    }
  }

  /** Reads the meta of every state file, setting damaged ones aside. */
  private async readMetas (dropped: string[]): Promise<Map<number, ShardMeta>> {
    const metas = new Map<number, ShardMeta>()
    let names: string[]
    try {
      names = await readdir(this.shardsDir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return metas
      throw err
    }
    this.shardsDirMade = true
    const files: Array<{ shard: number, name: string }> = []
    for (const name of names) {
      const m = /^([0-9a-f]{3})\.state(\.tmp)?$/.exec(name)
      if (m === null) continue
      if (m[2] !== undefined) {
        // Left by a crash in writeStates: the state file beside it is the whole previous one.
        await rm(join(this.shardsDir, name), { force: true })
        continue
      }
      const shard = Number.parseInt(m[1] as string, 16)
      if (shard >= this.shardCount) {
        this.log.warn(`shards/${name} is not a shard of a pinset of ${this.shardCount} shards: ignored`)
        continue
      }
      files.push({ shard, name })
    }
    for (const { shard, name } of files) {
      const { head, size } = readHead(join(this.shardsDir, name))
      const parsed = parseShardState(head, name, false)
      if (typeof parsed !== 'string') {
        metas.set(shard, parsed.meta)
        continue
      }
      dropped.push(this.stateDropped(shard, parsed, await moveAside(this.shardsDir, name), size))
    }
    return metas
  }

  /** Logs a state file set aside as `aside`; the sentence. */
  private stateDropped (shard: number, problem: string, aside: string | undefined, bytes: number): string {
    const what = `shard ${shard} state file unreadable (${problem}): moved to shards/${aside}; its ${bytes} bytes dropped, the shard is re-synced from peers`
    this.log.error({ shard, bytes }, what)
    return what
  }

  private async makeShardsDir (): Promise<void> {
    if (this.shardsDirMade) return
    await mkdir(this.shardsDir, { recursive: true })
    await syncDir(this.dir)
    this.shardsDirMade = true
  }

  private async writeManifest (): Promise<void> {
    await writeAtomically(this.dir, 'manifest.json', [Buffer.from(JSON.stringify({ format: SHARD_FORMAT_VERSION, shards: this.shardCount }) + '\n')])
  }

  /** Renames the single-document files aside once the manifest is written (also finishing a migration interrupted after it). */
  private async finishMigration (): Promise<void> {
    let renamed = false
    for (const name of LEGACY_FILES) {
      try {
        await rename(join(this.dir, name), join(this.dir, `${name}.pre-shard`))
        renamed = true
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      }
    }
    if (renamed) {
      await syncDir(this.dir)
      this.log.info(`the single-document pinset was migrated to ${this.shardCount} shards; its files are kept as *.pre-shard`)
    }
  }

  /** Removes what a migration interrupted before its manifest was written left (see OpenedShardStore.legacy). */
  private async removeLeftovers (): Promise<void> {
    const names = (await readdir(this.dir)).filter(f => /^wal-\d{8}\.log$/.test(f))
    const states = await readdir(this.shardsDir).catch(() => [])
    if (names.length === 0 && states.length === 0) return
    this.log.warn({ segments: names.length, states: states.length }, 'removing the shard files of a migration that did not complete; migrating again')
    for (const name of names) await rm(join(this.dir, name), { force: true })
    await rm(this.shardsDir, { recursive: true, force: true })
  }
}

function segmentName (seq: number): string {
  return `wal-${seq.toString().padStart(8, '0')}.log`
}

function stateName (shard: number): string {
  return `${shard.toString(16).padStart(3, '0')}.state`
}

function validShardCount (shards: unknown): shards is number {
  return typeof shards === 'number' && Number.isInteger(shards) && shards >= MIN_SHARDS && shards <= MAX_SHARDS && (shards & (shards - 1)) === 0
}


/** manifest.json, or undefined when there is none. An unknown format throws: the peer refuses to start. */
async function readManifest (dir: string): Promise<{ shards: number } | undefined> {
  const buf = await readOptional(join(dir, 'manifest.json'))
  if (buf === undefined) return undefined
  let manifest: { format?: unknown, shards?: unknown }
  try {
    manifest = JSON.parse(buf.toString()) as typeof manifest
  } catch (err) {
    throw new InvalidDatastoreVersionError(`the pinset's manifest.json is not JSON (${(err as Error).message}); this pinmesh reads format ${SHARD_FORMAT_VERSION}`)
  }
  if (manifest?.format !== SHARD_FORMAT_VERSION) {
    throw new InvalidDatastoreVersionError(`the pinset's manifest.json has format ${JSON.stringify(manifest?.format)}; this pinmesh reads format ${SHARD_FORMAT_VERSION}`)
  }
  if (!validShardCount(manifest.shards)) {
    throw new InvalidDatastoreVersionError(`the pinset's manifest.json has ${JSON.stringify(manifest.shards)} shards: not a power of two from ${MIN_SHARDS} to ${MAX_SHARDS}`)
  }
  return { shards: manifest.shards }
}

function metaJson (meta: ShardMeta): unknown {
  return { epoch: { n: meta.epoch.n, leader: meta.epoch.leader }, pins: meta.pins, tombstones: meta.tombstones, digest: Buffer.from(meta.digest).toString('hex') }
}

/**
 * The start of a state file, up to the end of its package (or all of it when shorter), and its size.
 * Read synchronously: at startup, a thousand small reads cost far less so than through the thread pool.
 */
function readHead (path: string): { head: Buffer, size: number } {
  const fd = openSync(path, 'r')
  try {
    const size = fstatSync(fd).size
    let head = Buffer.alloc(0)
    let want = Math.min(size, HEAD_BYTES)
    while (want > head.length) {
      const buf = Buffer.allocUnsafe(want)
      const n = readSync(fd, buf, 0, want, 0)
      head = buf.subarray(0, n)
      if (n < want) break
      want = Math.min(size, stateHeadLength(head))
    }
    return { head, size }
  } finally {
    closeSync(fd)
  }
}

/**
 * A shard state file's meta and Yjs update, or why it cannot be read. With `checksum` false, `buf`
 * may be the file's head only (see `readHead`): its meta is read, its checksum not verified.
 */
function parseShardState (buf: Buffer, name: string, checksum = true): { meta: ShardMeta, state: Uint8Array } | string {
  const parsed = parseStateFile(buf, STATE_MAGIC, `shards/${name}`, READABLE, checksum)
  if (typeof parsed === 'string') return parsed
  if (!isEpochMeta(parsed.meta)) return 'metadata has no epoch'
  const m = parsed.meta as { pins?: unknown, tombstones?: unknown, digest?: unknown }
  if (typeof m.pins !== 'number' || typeof m.tombstones !== 'number' || typeof m.digest !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(m.digest)) return 'metadata has no counts or digest'
  const meta: ShardMeta = { epoch: { n: parsed.meta.epoch.n, leader: parsed.meta.epoch.leader }, pins: m.pins, tombstones: m.tombstones, digest: Buffer.from(m.digest, 'hex') }
  if (parsed.package !== undefined) meta.package = parsed.package
  return { meta, state: parsed.doc }
}
