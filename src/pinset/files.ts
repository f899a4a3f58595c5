import { open, rename, readFile, rm, copyFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { InvalidDatastoreVersionError, PinsetWriteError } from '../errors.js'
import type { Logger } from '../logger.js'

// The file handling shared by the pinset's stores (store.ts, one document; shard-store.ts, shards):
// headers, checksummed state files, append-only logs of checksummed frames, atomic writes, and
// damaged files kept aside.

/** Every pinset file starts with 8 magic bytes and a u32 format version. */
export const HEADER_BYTES = 12

/** FileHandle.write may write less than asked; large buffers are written until done. */
export async function writeAll (fh: FileHandle, data: Uint8Array): Promise<void> {
  let pos = 0
  while (pos < data.length) pos += (await fh.write(data, pos, data.length - pos)).bytesWritten
}

export function u32 (n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n, 0)
  return b
}

export function fileHeader (magic: Buffer, version: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES)
  magic.copy(header, 0)
  header.writeUInt32BE(version, 8)
  return header
}

/** The name a damaged file is kept under: `<name>.corrupt-<time>`. */
export function asideName (name: string): string {
  return `${name}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`
}

export async function readOptional (path: string): Promise<Buffer | undefined> {
  try { return await readFile(path) } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** The error a pinset write that did not reach the disk is reported with. */
export function writeError (err: unknown): PinsetWriteError {
  return new PinsetWriteError(`cannot write the pinset to disk: ${(err as Error).message}`, { cause: err })
}

/** Renames `dir/name` to its aside name (nothing is deleted); the new name, or undefined if it did not exist. */
export async function moveAside (dir: string, name: string): Promise<string | undefined> {
  const to = asideName(name)
  try {
    await rename(join(dir, name), join(dir, to))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  return to
}

/** Copies `dir/name` to its aside name; the copy's name. */
export async function copyAside (dir: string, name: string): Promise<string> {
  const to = asideName(name)
  await copyFile(join(dir, name), join(dir, to))
  return to
}

export async function syncDir (dir: string): Promise<void> {
  const dirHandle = await open(dir, 'r')
  try { await dirHandle.sync() } finally { await dirHandle.close() }
}

/**
 * Writes `chunks` as `dir/name` through `<name>.tmp`, fsync and rename, so that the file is either
 * the old one or the whole new one. A failed write removes the temporary file (on a full disk it
 * holds space needed back). The directory is synced unless `syncDirectory` is false (a caller
 * renaming several files syncs it once).
 */
export async function writeAtomically (dir: string, name: string, chunks: readonly Uint8Array[], syncDirectory = true): Promise<void> {
  const tmp = join(dir, `${name}.tmp`)
  try {
    const fh = await open(tmp, 'w')
    try {
      for (const chunk of chunks) if (chunk.length > 0) await writeAll(fh, chunk)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, join(dir, name))
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {})
    throw err
  }
  if (syncDirectory) await syncDir(dir)
}

/**
 * Why `buf` is not a readable pinset file, or undefined when it is. A file of a version this
 * pinmesh does not know is not damage: it throws, and the peer refuses to start rather than
 * setting aside another release's data.
 */
export function headerProblem (buf: Buffer, magic: Buffer, name: string, readable: readonly number[]): string | undefined {
  if (buf.length < HEADER_BYTES) return `${buf.length} bytes, shorter than its header`
  if (!buf.subarray(0, 8).equals(magic)) return 'not a pinmesh pinset file: bad magic bytes'
  const version = buf.readUInt32BE(8)
  if (!readable.includes(version)) {
    throw new InvalidDatastoreVersionError(`${name} has format version ${version}; this pinmesh reads versions ${readable.join(' and ')}`)
  }
  return undefined
}

/**
 * The body of a state file after its header: u32 crc32 of the rest, u32 meta length, meta JSON,
 * u32 package length, package, then the document (a Yjs update). Returned as chunks to write after
 * the header: the document is not concatenated with the rest (it may be ~100 MB).
 */
export function stateChunks (meta: unknown, pkg: Uint8Array | undefined, doc: Uint8Array): Uint8Array[] {
  const json = Buffer.from(JSON.stringify(meta))
  const p = pkg ?? new Uint8Array(0)
  const head = Buffer.concat([u32(json.length), json, u32(p.length), p])
  return [Buffer.concat([u32(crc32(doc, crc32(head))), head]), doc]
}

/**
 * Reads a state file (see `stateChunks`; version 1 files of store.ts have no checksum): its meta
 * JSON (not validated), package and document, or why it cannot be read. With `checksum` false,
 * `buf` may be only the start of the file, up to the end of its package (see `stateHeadLength`),
 * and the checksum is not verified.
 */
export function parseStateFile (buf: Buffer, magic: Buffer, name: string, readable: readonly number[], checksum = true): { meta: unknown, package?: Uint8Array, doc: Uint8Array } | string {
  const problem = headerProblem(buf, magic, name, readable)
  if (problem !== undefined) return problem
  let pos = HEADER_BYTES
  if (buf.readUInt32BE(8) >= 2) {
    if (buf.length < pos + 4) return 'truncated: no checksum'
    if (checksum && crc32(buf.subarray(pos + 4)) !== buf.readUInt32BE(pos)) return 'checksum mismatch'
    pos += 4
  }
  if (buf.length < pos + 4) return 'truncated: no metadata'
  const metaLen = buf.readUInt32BE(pos)
  if (buf.length < pos + 8 + metaLen) return 'truncated in its metadata'
  let meta: unknown
  try {
    meta = JSON.parse(buf.subarray(pos + 4, pos + 4 + metaLen).toString())
  } catch (err) {
    return `metadata is not JSON: ${(err as Error).message}`
  }
  pos += 4 + metaLen
  const pkgLen = buf.readUInt32BE(pos)
  if (buf.length < pos + 4 + pkgLen) return 'truncated in its epoch package'
  const pkg = pkgLen > 0 ? buf.subarray(pos + 4, pos + 4 + pkgLen) : undefined
  pos += 4 + pkgLen
  return { meta, ...(pkg === undefined ? {} : { package: pkg }), doc: buf.subarray(pos) }
}

/**
 * How many bytes of a (checksummed) state file hold everything before its document, as far as the
 * first `buf.length` bytes tell: read that much and ask again until the answer stops growing.
 */
export function stateHeadLength (buf: Buffer): number {
  const metaAt = HEADER_BYTES + 4
  if (buf.length < metaAt + 4) return metaAt + 4
  const pkgAt = metaAt + 4 + buf.readUInt32BE(metaAt)
  if (buf.length < pkgAt + 4) return pkgAt + 4
  return pkgAt + 4 + buf.readUInt32BE(pkgAt)
}

export function isEpochMeta (meta: unknown): meta is { epoch: { n: number, leader: string } } {
  const epoch = (meta as { epoch?: { n?: unknown, leader?: unknown } } | null)?.epoch
  return typeof epoch?.n === 'number' && typeof epoch.leader === 'string'
}

/**
 * Walks the frames of a log from `start`: each is u32 length, u32 crc32, `fixed - 8` more header
 * bytes, then `length` bytes of body; `checksum(fields, body)` computes the crc32 of a frame from
 * its header bytes after the crc and its body. `each` gets every whole frame with a good checksum.
 * Stops at the first frame that is incomplete or fails its checksum: `end` is where it starts.
 */
export function scanFrames (
  log: Buffer, start: number, fixed: number,
  checksum: (fields: Buffer, body: Buffer) => number,
  each: (fields: Buffer, body: Buffer) => void
): { end: number, frames: number, problem?: string } {
  let pos = start
  let frames = 0
  while (pos < log.length) {
    if (pos + fixed > log.length) return { end: pos, frames, problem: 'incomplete frame header' }
    const len = log.readUInt32BE(pos)
    if (pos + fixed + len > log.length) return { end: pos, frames, problem: `incomplete frame of ${len} bytes` }
    const fields = log.subarray(pos + 8, pos + fixed)
    const body = log.subarray(pos + fixed, pos + fixed + len)
    if (checksum(fields, body) !== log.readUInt32BE(pos + 4)) return { end: pos, frames, problem: 'checksum mismatch' }
    each(fields, body)
    pos += fixed + len
    frames++
  }
  return { end: pos, frames }
}

/**
 * Cuts the log `dir/name` (open as `handle`, `size` bytes long) back to `scan.end` when its scan
 * stopped early. An incomplete last frame is what a crash in the middle of an append leaves: it was
 * never acknowledged, and is only warned about. Anything else is damage: the file is first copied
 * aside as it was, and the returned sentence (also logged) says what was dropped.
 */
export async function cutLogTail (
  dir: string, name: string, label: string, handle: FileHandle, size: number,
  scan: { end: number, frames: number, problem?: string }, log: Logger
): Promise<string | undefined> {
  if (scan.problem === undefined) return undefined
  const dropped = size - scan.end
  const torn = scan.problem.startsWith('incomplete')
  const aside = torn ? undefined : await copyAside(dir, name)
  const what = `${label}: dropped ${dropped} bytes after frame ${scan.frames} at offset ${scan.end} (${scan.problem})`
  let said: string | undefined
  if (torn) {
    log.warn({ dropped, frames: scan.frames, offset: scan.end }, `${what}; a write torn by a crash or a truncated file`)
  } else {
    said = `${what}; the original is kept as ${aside}; the rest is re-synced from peers`
    log.error({ dropped, frames: scan.frames, offset: scan.end }, said)
  }
  await handle.truncate(scan.end)
  await handle.datasync()
  return said
}

/** Runs jobs one at a time, in the order given; a failed job goes to `onError` and does not stop the next. */
export class JobChain {
  private last: Promise<void> = Promise.resolve()

  constructor (private readonly onError: (err: unknown) => void) {}

  async run<T> (job: () => Promise<T>): Promise<T> {
    const run = this.last.then(job)
    this.last = run.then(() => {}, this.onError)
    return await run
  }

  /** Resolves once every job given so far has finished. */
  async idle (): Promise<void> { await this.last }
}

/**
 * The end of an append-only log: `append` writes and syncs, and a failed write never leaves a
 * torn frame that later frames follow: the file is cut back to `size` at once, or, if that fails
 * too, before the next write.
 */
export class LogTail {
  /** The file may end past `size` (a failed write not yet cut back). */
  torn: boolean

  constructor (readonly handle: FileHandle, public size: number, torn = false) {
    this.torn = torn
  }

  async append (data: Uint8Array): Promise<void> {
    if (this.torn) {
      await this.handle.truncate(this.size)
      this.torn = false
    }
    try {
      await writeAll(this.handle, data)
      await this.handle.datasync()
    } catch (err) {
      this.torn = true
      await this.handle.truncate(this.size).then(() => { this.torn = false }, () => {})
      throw err
    }
    this.size += data.length
  }
}
