import type { IncomingMessage } from 'node:http'
import busboy from 'busboy'
import { InvalidParametersError } from '../errors.js'
import { parseGoBool } from '../utils/go-bool.js'

/**
 * Kubo's option parsing (go-ipfs-cmds), for intercepted commands: the first of `names` is the
 * canonical name used in messages, the others are aliases; bools follow Go's strconv.ParseBool.
 * Parse errors are InvalidParametersError with Kubo's exact text (a 400 text/plain answer).
 */
export class KuboOptions {
  private readonly q: URLSearchParams
  constructor (query: URLSearchParams) { this.q = query }

  private raw (names: readonly string[]): string | undefined {
    const found = names.filter(n => this.q.has(n))
    if (found.length === 0) return undefined
    const values = found.flatMap(n => this.q.getAll(n))
    if (values.length > 1) throw new InvalidParametersError(`expected key ${names[0]} to have only a single value, received ${values.length}`)
    return values[0]
  }

  bool (names: readonly string[], def: boolean): boolean {
    const v = this.raw(names)
    if (v === undefined) return def
    if (v === '') throw new InvalidParametersError(`could not convert empty value to type "bool" (for option "-${names[0]}")`)
    const b = parseGoBool(v)
    if (b !== undefined) return b
    throw new InvalidParametersError(`could not convert value "${v}" to type "bool" (for option "-${names[0]}")`)
  }

  string (names: readonly string[]): string | undefined { return this.raw(names) }

  /** Repeated keys with a prefix, e.g. `meta-<key>=<value>`. */
  prefixed (prefix: string): Record<string, string> {
    const out: Record<string, string> = {}
    for (const [k, v] of this.q) if (k.startsWith(prefix) && k.length > prefix.length) out[k.slice(prefix.length)] = v
    return out
  }
}

/**
 * Args sent in the body, as the `ipfs` CLI does for `echo CID | ipfs pin add`: the first
 * multipart part, one argument per line (Kubo's stdin args). Non-multipart bodies carry none.
 */
export async function readBodyArgs (req: IncomingMessage, maxBytes = 16 << 20): Promise<string[]> {
  const type = req.headers['content-type'] ?? ''
  if (!type.startsWith('multipart/form-data')) { req.resume(); return [] }
  return await new Promise<string[]>((resolve, reject) => {
    let bb: busboy.Busboy
    try { bb = busboy({ headers: req.headers, limits: { fileSize: maxBytes } }) } catch (err) { reject(new InvalidParametersError((err as Error).message)); return }
    let first: Promise<string> | undefined
    bb.on('file', (_name, stream) => {
      if (first !== undefined) { stream.resume(); return }
      first = new Promise((res, rej) => {
        const chunks: Buffer[] = []
        stream.on('data', (d: Buffer) => chunks.push(d))
        stream.on('limit', () => { rej(new InvalidParametersError(`argument body larger than ${maxBytes} bytes`)) })
        stream.on('end', () => { res(Buffer.concat(chunks).toString('utf8')) })
        stream.on('error', rej)
      })
      // Settled before 'close' when the limit is hit; it is awaited there, so no unhandled rejection (which killed the daemon).
      first.catch(() => {})
    })
    bb.on('error', (err) => { reject(new InvalidParametersError(`error reading request: ${(err as Error).message}`)) })
    bb.on('close', () => {
      if (first === undefined) { resolve([]); return }
      first.then((text) => {
        const lines = text.split('\n').map(l => l.replace(/\r$/, ''))
        if (lines.at(-1) === '') lines.pop()
        resolve(lines)
      }, reject)
    })
    req.pipe(bb)
  })
}
