import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { lstat, readdir, readlink, stat } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { CliUsageError } from './args.js'

/** One part of an add upload, in the order it is sent. */
export interface AddEntry {
  kind: 'file' | 'dir' | 'symlink' | 'stdin'
  /** The name Kubo sees: relative, `/`-separated, rooted at the basename of the path given. */
  name: string
  /** Where to read it from (unused for dirs; the link target for symlinks). */
  source: string
  /** Bytes of a file (0 for the rest; unknown for stdin). */
  size: number
}

/**
 * Lists what `pinmesh add <paths…>` uploads, as the `ipfs` CLI does: each path as a top-level entry
 * named after its basename, directories recursively (depth-first, children sorted by name, the
 * directory before its children), symlinks inside directories as symlinks, hidden names (`.x`)
 * inside directories skipped unless `hidden`. `-` is standard input. Throws CliUsageError for a
 * missing path or an unsupported file type.
 */
export async function collectEntries (paths: readonly string[], options: { hidden?: boolean } = {}): Promise<AddEntry[]> {
  const out: AddEntry[] = []
  for (const p of paths) {
    if (p === '-') { out.push({ kind: 'stdin', name: '', source: '-', size: 0 }); continue }
    const abs = resolve(p)
    let st
    try { st = await stat(abs) } catch (err) { throw new CliUsageError(`${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`) }
    const name = basename(abs)
    if (st.isDirectory()) await walk(abs, name, out, options.hidden === true)
    else if (st.isFile()) out.push({ kind: 'file', name, source: abs, size: st.size })
    else throw new CliUsageError(`${p}: not a regular file or directory`)
  }
  return out
}

async function walk (dir: string, name: string, out: AddEntry[], hidden: boolean): Promise<void> {
  out.push({ kind: 'dir', name, source: dir, size: 0 })
  const children = (await readdir(dir)).filter(c => hidden || !c.startsWith('.')).sort((a, b) => a < b ? -1 : a > b ? 1 : 0)
  for (const c of children) {
    const abs = join(dir, c)
    const childName = `${name}/${c}`
    const st = await lstat(abs)
    if (st.isSymbolicLink()) out.push({ kind: 'symlink', name: childName, source: await readlink(abs), size: 0 })
    else if (st.isDirectory()) await walk(abs, childName, out, hidden)
    else if (st.isFile()) out.push({ kind: 'file', name: childName, source: abs, size: st.size })
    else throw new CliUsageError(`${abs}: not a regular file, directory or symlink`)
  }
}

/** A fresh multipart boundary, shaped like kubo-rpc-client's. */
export function newBoundary (): string {
  return `-----------------------------${randomBytes(12).toString('hex')}`
}

/** The Content-Type header of a body made by multipartBody. */
export function multipartContentType (boundary: string): string {
  return `multipart/form-data; boundary=${boundary}`
}

const CONTENT_TYPE: Record<AddEntry['kind'], string> = {
  file: 'application/octet-stream',
  stdin: 'application/octet-stream',
  dir: 'application/x-directory',
  symlink: 'application/symlink'
}

/**
 * The upload as Kubo's `/api/v0/add` reads it, streamed and in the shape kubo-rpc-client sends:
 * field `file`/`dir` for the first part and `file-<i>`/`dir-<i>` after it, `filename` =
 * encodeURIComponent(name), directories as empty `application/x-directory` parts, symlinks as
 * `application/symlink` with the target as body. `open` reads a file (injectable for tests).
 */
export async function * multipartBody (entries: readonly AddEntry[], boundary: string, open: (source: string) => AsyncIterable<Uint8Array> = openSource): AsyncGenerator<Uint8Array> {
  const enc = new TextEncoder()
  for (const [i, e] of entries.entries()) {
    const field = `${e.kind === 'dir' ? 'dir' : 'file'}${i === 0 ? '' : `-${i}`}`
    yield enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${encodeURIComponent(e.name)}"\r\nContent-Type: ${CONTENT_TYPE[e.kind]}\r\n\r\n`)
    if (e.kind === 'file' || e.kind === 'stdin') yield * open(e.source)
    else if (e.kind === 'symlink') yield enc.encode(e.source)
    yield enc.encode('\r\n')
  }
  yield enc.encode(`--${boundary}--\r\n`)
}

async function * openSource (source: string): AsyncGenerator<Uint8Array> {
  const stream = source === '-' ? process.stdin : createReadStream(source)
  for await (const chunk of stream) yield chunk as Uint8Array
}
