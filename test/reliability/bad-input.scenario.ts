import { connect, type Socket } from 'node:net'
import { readFile } from 'node:fs/promises'
import { CarWriter } from '@ipld/car'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { API_ERROR_CODES } from '../../src/api/errors.js'
import { startKubo, type KuboDaemon } from '../fixtures/kubo.js'
import { startPinmesh, newSecret, type PinmeshProcess } from '../fixtures/pinmesh.js'
import { makeCids } from '../fixtures/cids.js'

/**
 * Bad input (issue 7, deliverable 4): `requests` generated malformed requests against one pinmesh
 * daemon in front of a real Kubo, plus slow-loris connections on both ports. Every request comes
 * from a PRNG seeded with (`seed`, its index), so one failing request is reproduced from the
 * seed and index alone, whatever the concurrency.
 *
 * What counts as a correct answer:
 * - proxy, intercepted command: 4xx/5xx with Kubo's JSON error `{"Message","Code","Type":"error"}`, or
 *   Kubo's 400 text/plain for a request it cannot parse (go-ipfs-cmds answers option errors so);
 * - proxy, pass-through command: any 4xx/5xx (that is Kubo's own answer);
 * - uploads (add, dag/import, block/put and dag/put with pin=true, relayed from Kubo as they
 *   stream): the above, or 200 with a non-empty `X-Stream-Error` trailer, which is how Kubo reports
 *   an upload that failed after its first line;
 * - admin API: 4xx/5xx with exactly `{code, message}`, `code` one of API_ERROR_CODES with its status
 *   (`POST /add` answers like the proxy's add, as documented);
 * - HTTP that does not parse, and requests the client itself cut short: any 4xx/5xx (Node's parser
 *   answers these before any route, with a bare status line).
 * A connection closed without an answer is accepted only where the request cannot be answered:
 * a slow-loris cut off by headersTimeout (checked against a time bound), an upload the client itself
 * cut short, a chunked body that stops parsing, and CONNECT (Node closes those when nobody handles them).
 * Nothing is sent that Kubo itself accepts (e.g. a dag/import body without any part is an empty
 * import to Kubo), so every request must fail.
 */

export interface BadInputOptions {
  /** Malformed requests to send (slow-loris connections come on top). */
  requests: number
  seed: number
  log?: (line: string) => void
  /** Requests in flight at once. @default 6 */
  concurrency?: number
  /** Slow-loris connections per port. @default 4 */
  slowLorisPerPort?: number
  /** A request not answered within this long is a fault. @default 60000 */
  requestTimeoutMs?: number
}

export const CATEGORIES = [
  'broken-multipart', 'truncated-body', 'invalid-cid', 'invalid-path', 'huge-argument', 'huge-header',
  'non-utf8', 'unknown-params', 'oversized-car', 'malformed-http'
] as const

export interface CategoryFigures { sent: number, faults: number, statuses: Record<string, number> }

export interface BadInputFigures {
  seed: number
  requests: number
  byCategory: Record<string, CategoryFigures>
  /** Requests answered wrongly (or not at all), first 20 with index and description. */
  faults: number
  faultSamples: string[]
  /** Pins in the pinset before and after, and entries that appeared, vanished or changed. */
  pinsBefore: number
  pinsAfter: number
  pinsetChanges: number
  /** pinmesh's VmRSS in bytes: after warm-up, highest sampled during the run, after the run. */
  rssBefore: number
  rssPeak: number
  rssAfter: number
  slowLoris: number
  slowLorisClosed: number
  /** Longest time until the server closed a slow-loris connection, ms. */
  slowLorisMaxMs: number
  /** The daemon still runs and answers /health and the proxy after the run. */
  alive: boolean
  /** Time until the last generated request was answered, and the whole run (start-up and slow-loris included). */
  requestsMs: number
  durationMs: number
}

type Port = 'proxy' | 'admin'
/** Which answers are correct, see the module comment. */
type Shape = 'intercepted' | 'passthrough' | 'admin' | 'admin-add' | 'parser'

interface Body { size: number, chunks: () => Iterable<Buffer> }

interface Attack {
  category: typeof CATEGORIES[number]
  port: Port
  shape: Shape
  desc: string
  head: Buffer
  body?: Body
  /** After the body, end our side: the upload is cut short by the client. */
  halfClose?: boolean
  allowClose?: boolean
  allowStreamError?: boolean
}

type Rng = () => number

/** mulberry32: small, fast, and the same sequence on every platform. */
function mulberry32 (seed: number): Rng {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const int = (r: Rng, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1))
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
const word = (r: Rng, n: number, alphabet = ALNUM): string => Array.from({ length: n }, () => alphabet[Math.floor(r() * alphabet.length)]).join('')
const rndBytes = (r: Rng, n: number): Buffer => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256); return b }
const enc = encodeURIComponent

/** `size` bytes: a 64 KiB block from the PRNG, repeated (fast, and still reproducible). */
function filler (r: Rng, size: number, alphabet?: string): Body {
  const block = alphabet === undefined ? rndBytes(r, 65536) : Buffer.from(word(r, 65536, alphabet))
  return {
    size,
    * chunks () { for (let left = size; left > 0; left -= block.length) yield left >= block.length ? block : block.subarray(0, left) }
  }
}

const bodyOf = (b: Buffer): Body => ({ size: b.length, chunks: () => [b] })
const concatBodies = (...parts: Body[]): Body => ({ size: parts.reduce((s, p) => s + p.size, 0), * chunks () { for (const p of parts) yield * p.chunks() } })

/** A request head: `Host` and `Connection: close` unless overridden, Content-Length from the body unless given. */
function head (method: string, target: string | Buffer, headers: Array<[string, string | Buffer]> = [], body?: Body): Buffer {
  const names = new Set(headers.map(([k]) => k.toLowerCase()))
  const all: Array<[string, string | Buffer]> = [...headers]
  if (!names.has('host')) all.unshift(['Host', '127.0.0.1'])
  if (!names.has('connection')) all.push(['Connection', 'close'])
  if (body !== undefined && !names.has('content-length') && !names.has('transfer-encoding')) all.push(['Content-Length', String(body.size)])
  return Buffer.concat([
    Buffer.from(`${method} `), Buffer.isBuffer(target) ? target : Buffer.from(target), Buffer.from(' HTTP/1.1\r\n'),
    ...all.flatMap(([k, v]) => [Buffer.from(`${k}: `), Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1'), Buffer.from('\r\n')]),
    Buffer.from('\r\n')
  ])
}

function part (boundary: string, disposition: string | Buffer, content: Buffer | string, close = true): Buffer {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: `), Buffer.isBuffer(disposition) ? disposition : Buffer.from(disposition),
    Buffer.from('\r\nContent-Type: application/octet-stream\r\n\r\n'), Buffer.from(content), Buffer.from(close ? `\r\n--${boundary}--\r\n` : '')
  ])
}

/** A string CID.parse refuses, in one of many shapes. */
function invalidCid (r: Rng, valid: readonly string[]): string {
  for (;;) {
    const v = pick(r, valid)
    const shapes: Array<() => string> = [
      () => 'QmNotACid',
      () => word(r, int(r, 1, 60)),
      () => `Qm${word(r, int(r, 5, 60), '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz')}`,
      () => v.slice(0, int(r, 1, v.length - 3)),
      () => `bafy${word(r, int(r, 5, 50), 'abcdefghijklmnopqrstuvwxyz234567')}`,
      () => `${v}${word(r, int(r, 1, 4), '!@#$%^&*(){}')}`,
      () => '☃💥\u0000\uffff',
      () => '',
      () => ' ',
      () => '../../../etc/passwd',
      () => `z${word(r, 40)}`,
      () => `f${word(r, 40, '0123456789abcdef')}`
    ]
    const s = pick(r, shapes)()
    try { CID.parse(s.trim()) } catch { return s }
  }
}

/** Kubo paths whose first segment is not a CID (Kubo refuses them without a network lookup). */
function invalidPath (r: Rng, valid: readonly string[]): string {
  const c = invalidCid(r, valid)
  return pick(r, [c, `/ipfs/${c}`, `/ipfs/${c}/${word(r, 5)}/${word(r, 3)}`, `ipfs://${c}`, `/ipld/${c}`, `/foo/${c}`])
}

const PIN_COMMANDS = ['pin/add', 'pin/rm', 'pin/ls'] as const
const PASS_COMMANDS = ['block/stat', 'block/get', 'dag/get', 'dag/stat', 'cat', 'ls', 'refs'] as const
const UPLOADS = ['add', 'dag/import', 'block/put?pin=true', 'dag/put?pin=true'] as const

interface Ctx {
  /** Valid CIDs that are not in the pinset. */
  valid: readonly string[]
  /** CIDs pinned before the run: malformed unpins and updates aim at them. */
  kept: readonly string[]
}

/** One generated request of `category`, the i-th of the run. */
async function generate (category: typeof CATEGORIES[number], r: Rng, ctx: Ctx): Promise<Omit<Attack, 'category'>> {
  const { valid, kept } = ctx
  const freshCid = (): string => pick(r, valid)
  const keptCid = (): string => pick(r, kept)
  const boundary = `b${word(r, int(r, 8, 30))}`
  switch (category) {
    case 'broken-multipart': {
      const variant = int(r, 0, 5)
      const good = part(boundary, `form-data; name="file"; filename="${word(r, 6)}"`, `content ${word(r, 20)}`)
      const body = bodyOf(variant === 3 ? Buffer.concat([rndBytes(r, int(r, 1, 4096))]) : variant === 5 ? good.subarray(0, good.length - boundary.length - 6) : good)
      const type = [
        `multipart/form-data; boundary=${boundary}x`, // the body's boundary is another
        'multipart/form-data', // none at all
        'multipart/form-data; boundary=', // empty
        `multipart/form-data; boundary=${boundary}`, // a body that is noise
        `multipart/form-data; boundary="${boundary}`, // unterminated quote
        `multipart/form-data; boundary=${boundary}` // no closing delimiter
      ][variant] as string
      // Kubo's dag/import takes a body without any part as an empty import (200): not bad input for it.
      const target = pick(r, variant === 0 || variant === 3 ? ['add', 'block/put?pin=true', 'dag/put?pin=true', 'pin/add', 'pin/rm', 'admin:/add'] : ['add', 'dag/import', 'block/put?pin=true', 'dag/put?pin=true', 'pin/add', 'pin/rm', 'admin:/add'])
      if (target === 'admin:/add') {
        return { port: 'admin', shape: 'admin-add', desc: `POST /add, ${type}, variant ${variant}`, head: head('POST', '/add', [['Content-Type', type]], body), body, allowStreamError: true }
      }
      // pin/add and pin/rm read their arguments from the body; noise there is never a CID.
      const argBody = target.startsWith('pin/') ? bodyOf(part(boundary, 'form-data; name="file"; filename=""', `${invalidCid(r, valid)}\n${invalidCid(r, valid)}`, variant !== 5)) : body
      return { port: 'proxy', shape: 'intercepted', desc: `POST /api/v0/${target}, ${type}, variant ${variant}`, head: head('POST', `/api/v0/${target}`, [['Content-Type', type]], argBody), body: argBody, allowStreamError: true }
    }
    case 'truncated-body': {
      const variant = int(r, 0, 3)
      const target = pick(r, ['add', 'dag/import', 'pin/add', 'block/put?pin=true', 'admin:/add', 'admin:/pins'])
      const admin = target.startsWith('admin:')
      const path = admin ? target.slice('admin:'.length) : `/api/v0/${target}`
      const content = target === 'admin:/pins' ? Buffer.from(`"${freshCid()}"\n"${invalidCid(r, valid)}"\n{"cid": "${freshCid()}", "na`) : target === 'pin/add' ? Buffer.from(`${invalidCid(r, valid)}\n`) : Buffer.from(word(r, int(r, 100, 5000)))
      const full = target === 'admin:/pins' ? content : part(boundary, `form-data; name="file"; filename="${word(r, 5)}"`, content)
      // Cut inside the content: Kubo takes a body cut before its first part as an upload of nothing (200).
      const contentStart = target === 'admin:/pins' ? 0 : full.indexOf('\r\n\r\n') + 4
      // The bulk body must keep part of its bad second line: cut after the first line alone, it is a valid request.
      const minCut = target === 'admin:/pins' ? content.indexOf(10) + 2 : contentStart + 1
      const cut = full.subarray(0, int(r, minCut, contentStart + content.length - 1))
      const shape: Shape = target === 'admin:/pins' ? 'admin' : admin ? 'admin-add' : 'intercepted'
      const ct: Array<[string, string]> = [['Content-Type', target === 'admin:/pins' ? 'application/x-ndjson' : `multipart/form-data; boundary=${boundary}`]]
      if (variant === 0) {
        // Framing complete, content cut: the server has the whole request and must answer it.
        const body = bodyOf(cut)
        return { port: admin ? 'admin' : 'proxy', shape, desc: `POST ${path}, body cut at ${cut.length}/${full.length}`, head: head('POST', path, ct, body), body, allowStreamError: true }
      }
      if (variant === 1) {
        // Content-Length promises more than comes, then the client ends its side.
        const body = bodyOf(cut)
        return { port: admin ? 'admin' : 'proxy', shape, desc: `POST ${path}, Content-Length ${full.length}, ${cut.length} sent, then EOF`, head: head('POST', path, [...ct, ['Content-Length', String(full.length)]], body), body, halfClose: true, allowClose: true, allowStreamError: true }
      }
      // Chunked: a chunk cut short then EOF, or a missing last chunk then EOF.
      const chunked = variant === 2
        ? Buffer.concat([Buffer.from(`${(cut.length + 100).toString(16)}\r\n`), cut])
        : Buffer.concat([Buffer.from(`${cut.length.toString(16)}\r\n`), cut, Buffer.from('\r\n')])
      const body = bodyOf(chunked)
      return { port: admin ? 'admin' : 'proxy', shape, desc: `POST ${path}, chunked, ${variant === 2 ? 'chunk cut short' : 'no last chunk'}, then EOF`, head: head('POST', path, [...ct, ['Transfer-Encoding', 'chunked']], body), body, halfClose: true, allowClose: true, allowStreamError: true }
    }
    case 'invalid-cid': {
      const bad = invalidCid(r, valid)
      const where = int(r, 0, 5)
      if (where === 0) {
        const cmd = pick(r, PIN_COMMANDS)
        return { port: 'proxy', shape: 'intercepted', desc: `${cmd}?arg=${JSON.stringify(bad)}`, head: head('POST', `/api/v0/${cmd}?arg=${enc(bad)}`) }
      }
      if (where === 1) {
        const cmd = pick(r, [...PIN_COMMANDS, 'pin/update'])
        // An empty last segment is no argument at all (`pin/ls/` lists the pinset).
        const arg = bad.trim() === '' ? `${bad}QmNotACid` : bad
        return { port: 'proxy', shape: 'intercepted', desc: `${cmd}/<${JSON.stringify(arg)}>`, head: head('POST', `/api/v0/${cmd}/${enc(arg)}${cmd === 'pin/update' ? `?arg=${freshCid()}` : ''}`) }
      }
      if (where === 2) {
        const args = r() < 0.5 ? [freshCid(), bad] : [bad, freshCid()]
        return { port: 'proxy', shape: 'intercepted', desc: `pin/update ${JSON.stringify(args)}`, head: head('POST', `/api/v0/pin/update?${args.map(a => `arg=${enc(a)}`).join('&')}`) }
      }
      if (where === 3) {
        const cmd = pick(r, PASS_COMMANDS)
        const p = invalidPath(r, valid)
        return { port: 'proxy', shape: 'passthrough', desc: `${cmd}?arg=${JSON.stringify(p)}`, head: head('POST', `/api/v0/${cmd}?arg=${enc(p)}`) }
      }
      if (where === 4) {
        const [method, path] = pick(r, [['GET', '/pins/{}'], ['GET', '/allocations/{}'], ['DELETE', '/pins/{}'], ['POST', '/pins/{}'], ['POST', '/pins/{}/recover']] as const)
        const target = path.replace('{}', enc(bad) === '' ? '%20' : enc(bad))
        return { port: 'admin', shape: 'admin', desc: `${method} ${target}`, head: head(method, target) }
      }
      const method = r() < 0.7 ? 'POST' : 'DELETE'
      // Bulk requests are all or nothing: the valid lines around the invalid one must not be pinned (or, for DELETE, unpinned).
      const lines = Array.from({ length: int(r, 1, 50) }, () => method === 'DELETE' ? JSON.stringify(keptCid()) : r() < 0.8 ? JSON.stringify(freshCid()) : JSON.stringify({ cid: freshCid() }))
      lines.splice(int(r, 0, lines.length), 0, r() < 0.5 || method === 'DELETE' ? JSON.stringify(bad) : JSON.stringify({ cid: bad, name: word(r, 5) }))
      const body = bodyOf(Buffer.from(lines.join('\n') + '\n'))
      return { port: 'admin', shape: 'admin', desc: `${method} /pins, ${lines.length} lines, one invalid CID`, head: head(method, '/pins', [['Content-Type', 'application/x-ndjson']], body), body }
    }
    case 'invalid-path': {
      if (r() < 0.5) {
        const target = pick(r, [
          '/api/v0/', '/api/v0/pin/add/%ZZ', `/api/v0/${word(r, 8)}`, `/api/v0/${word(r, 4)}/${word(r, 4)}/${word(r, 4)}`,
          '/api/v1/id', `/${word(r, 10)}`, '/api/v0/..%2f..%2fetc%2fpasswd', `/api/v0/pin/add/${freshCid()}/${word(r, 6)}`,
          '/api/v0/%00', `/api/v0/pin/ls/${enc(invalidPath(r, valid))}`, `/api/v0/${'x/'.repeat(int(r, 100, 2000))}`,
          `/api/v0/pin/add?arg=${enc(invalidPath(r, valid))}`, `/ipfs/${invalidCid(r, valid)}`, '*'
        ])
        const method = target === '*' ? 'OPTIONS' : pick(r, ['POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'PATCH'])
        // Only POST on /api/v0/<intercepted> reaches pinmesh's handlers; the rest is Kubo's answer.
        const intercepted = method === 'POST' && /^\/api\/v0\/pin\/(add|ls|rm)(\/[^/]*)?(\?|$)/.test(target)
        if (method === 'OPTIONS') return { port: 'proxy', shape: 'parser', desc: 'OPTIONS *', head: head('OPTIONS', '*') }
        return { port: 'proxy', shape: intercepted ? 'intercepted' : 'passthrough', desc: `${method} ${target.slice(0, 80)}`, head: head(method, target) }
      }
      const [method, target] = pick(r, [
        ['GET', `/${word(r, 8)}`], ['GET', '/pins/a/b/c'], ['GET', '/ui/../../package.json'], ['GET', '/ui/%2e%2e%2f%2e%2e%2fpackage.json'],
        ['GET', '/ui/app.js%00'], ['GET', `/ui/${word(r, 6)}.js`], ['PUT', `/pins/${freshCid()}`], ['PATCH', '/id'], ['DELETE', '/health'],
        ['POST', '/version'], ['GET', '/add'], ['DELETE', '/peers'], ['GET', `/${'a/'.repeat(int(r, 100, 3000))}`], ['POST', `/pins/${freshCid()}/${word(r, 5)}`],
        ['GET', '/pins/recover'], ['GET', '/metrics/x'], ['GET', '/%'], ['GET', `/pins/${freshCid()}`], ['DELETE', `/pins/${freshCid()}`], ['GET', `/allocations/${freshCid()}`]
      ] as const)
      return { port: 'admin', shape: 'admin', desc: `${method} ${target.slice(0, 80)}`, head: head(method, target) }
    }
    case 'huge-argument': {
      const variant = int(r, 0, 7)
      if (variant === 0) {
        // Just below the 16 KiB header limit, so the request is parsed and reaches the handler.
        const big = `Qm${word(r, int(r, 6000, 12000))}`
        const cmd = pick(r, ['pin/add', 'pin/rm', 'pin/ls', 'block/stat', 'cat'])
        return { port: 'proxy', shape: cmd.startsWith('pin/') ? 'intercepted' : 'passthrough', desc: `${cmd}?arg=<${big.length} chars>`, head: head('POST', `/api/v0/${cmd}?arg=${big}`) }
      }
      if (variant === 1) {
        const n = int(r, 200, 900)
        const q = Array.from({ length: n }, () => `arg=${enc(invalidCid(r, valid)).slice(0, 12) || 'x'}`).join('&')
        return { port: 'proxy', shape: 'intercepted', desc: `pin/add with ${n} arg= parameters`, head: head('POST', `/api/v0/pin/add?${q}`) }
      }
      if (variant === 2) {
        // One argument line of megabytes in the body; below 16 MiB it is read, then refused as a CID.
        const size = r() < 0.8 ? int(r, 100_000, 3_000_000) : int(r, 16_800_000, 20_000_000)
        const open = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename=""\r\nContent-Type: application/octet-stream\r\n\r\nQm`)
        const body = concatBodies(bodyOf(open), filler(r, size, ALNUM), bodyOf(Buffer.from(`\r\n--${boundary}--\r\n`)))
        const cmd = pick(r, ['pin/add', 'pin/rm'])
        return { port: 'proxy', shape: 'intercepted', desc: `${cmd} with a ${size}-byte argument in the body`, head: head('POST', `/api/v0/${cmd}`, [['Content-Type', `multipart/form-data; boundary=${boundary}`]], body), body }
      }
      if (variant === 3) {
        const n = int(r, 1000, 50_000)
        const lines = Array.from({ length: Math.min(n, 200) }, () => invalidCid(r, valid).replace(/[\r\n]/g, '')).join('\n')
        const content = Buffer.from((lines + '\n').repeat(Math.ceil(n / 200)))
        const body = bodyOf(part(boundary, 'form-data; name="file"; filename=""', content))
        return { port: 'proxy', shape: 'intercepted', desc: `pin/add with ~${n} invalid arguments in the body`, head: head('POST', '/api/v0/pin/add', [['Content-Type', `multipart/form-data; boundary=${boundary}`]], body), body }
      }
      if (variant === 4) {
        // pin names are at most 255 bytes; a valid CID proves the check comes before the pinset.
        const name = word(r, int(r, 256, 8000))
        return { port: 'proxy', shape: 'intercepted', desc: `pin/add <fresh cid> name=<${name.length} chars>`, head: head('POST', `/api/v0/pin/add?arg=${freshCid()}&name=${name}`) }
      }
      if (variant === 5) {
        // A bulk line over the 64 KiB line limit, with or without a newline (megabytes).
        const size = r() < 0.7 ? int(r, 65_537, 300_000) : int(r, 1_000_000, 8_000_000)
        const body = concatBodies(bodyOf(Buffer.from(`"${freshCid()}"\n"`)), filler(r, size, ALNUM), bodyOf(Buffer.from(r() < 0.5 ? '"\n' : '')))
        const method = r() < 0.7 ? 'POST' : 'DELETE'
        return { port: 'admin', shape: 'admin', desc: `${method} /pins with a ${size}-byte line`, head: head(method, '/pins', [['Content-Type', 'application/x-ndjson']], body), body }
      }
      if (variant === 6) {
        const cid = invalidCid(r, valid)
        const meta = Array.from({ length: int(r, 5, 40) }, () => `meta-${word(r, 10)}=${word(r, 300)}`).join('&')
        const port: Port = r() < 0.5 ? 'admin' : 'proxy'
        const target = port === 'admin' ? `/pins/${enc(cid) || 'x'}?${meta}` : `/api/v0/pin/add?arg=${enc(cid)}&${meta}`
        return { port, shape: port === 'admin' ? 'admin' : 'intercepted', desc: `pin with ${meta.length} bytes of metadata and an invalid CID`, head: head('POST', target) }
      }
      const big = word(r, int(r, 4000, 12000))
      return { port: 'admin', shape: 'admin', desc: `GET /pins?filter=<${big.length} chars>`, head: head('GET', `/pins?filter=${big}`) }
    }
    case 'huge-header': {
      const variant = int(r, 0, 4)
      const port: Port = r() < 0.5 ? 'admin' : 'proxy'
      const path = port === 'admin' ? '/id' : '/api/v0/pin/ls'
      if (variant === 0) return { port, shape: 'parser', desc: `${path} with a header over 16 KiB`, head: head('POST', path, [['X-Big', word(r, int(r, 17_000, 200_000))]]) }
      if (variant === 1) return { port, shape: 'parser', desc: `${path} with thousands of small headers`, head: head('POST', path, Array.from({ length: int(r, 2500, 6000) }, (_, i) => [`X-H${i}`, word(r, 4)] as [string, string])) }
      if (variant === 2) return { port, shape: 'parser', desc: 'a URL over 16 KiB', head: head('POST', `${path}?arg=${word(r, int(r, 17_000, 100_000))}`) }
      if (variant === 3) return { port, shape: 'parser', desc: 'an Authorization header over 16 KiB', head: head('POST', path, [['Authorization', `Bearer ${word(r, int(r, 17_000, 60_000))}`]]) }
      // Large but under the limit: parsed, then refused for what it asks.
      const bad = invalidCid(r, valid)
      return port === 'admin'
        ? { port, shape: 'admin', desc: 'GET /pins/<invalid> with 12 KB of cookies', head: head('GET', `/pins/${enc(bad) || 'x'}`, [['Cookie', word(r, 12_000)]]) }
        : { port, shape: 'intercepted', desc: 'pin/add <invalid> with 12 KB of cookies', head: head('POST', `/api/v0/pin/add?arg=${enc(bad)}`, [['Cookie', word(r, 12_000)]]) }
    }
    case 'non-utf8': {
      const variant = int(r, 0, 5)
      const junk = (): string => Array.from({ length: int(r, 1, 12) }, () => `%${pick(r, ['80', 'BF', 'C0', 'C1', 'F5', 'FE', 'FF', 'ED%A0%80', 'C3%28', 'E2%82'])}`).join('')
      if (variant === 0) {
        // 86+ invalid bytes decode to as many U+FFFD (3 bytes each): over 255 bytes, with a valid CID.
        const name = Array.from({ length: int(r, 86, 600) }, () => '%FF').join('')
        return { port: 'proxy', shape: 'intercepted', desc: 'pin/add <fresh cid> with a 255+ byte non-UTF-8 name', head: head('POST', `/api/v0/pin/add?arg=${freshCid()}&name=${name}`) }
      }
      if (variant === 1) {
        const cmd = pick(r, ['pin/add', 'pin/rm', 'pin/ls', 'block/stat'])
        return { port: 'proxy', shape: cmd.startsWith('pin/') ? 'intercepted' : 'passthrough', desc: `${cmd} with a non-UTF-8 arg and name`, head: head('POST', `/api/v0/${cmd}?arg=${junk()}&name=${junk()}`) }
      }
      if (variant === 2) {
        // Raw bytes 0x80-0xFF in the request target: the parser refuses them or pinmesh does.
        const rawTarget = Buffer.concat([Buffer.from(pick(r, ['/api/v0/pin/add?arg=', '/pins/', '/api/v0/pin/ls/'])), rndBytes(r, int(r, 1, 40)).map(b => 0x80 | b)])
        const port: Port = rawTarget.toString('latin1').startsWith('/pins') ? 'admin' : 'proxy'
        return { port, shape: 'parser', desc: `raw non-ASCII bytes in the request target (${port})`, head: head(port === 'admin' ? 'GET' : 'POST', rawTarget) }
      }
      if (variant === 3) {
        // A multipart file name of invalid UTF-8, in an upload whose closing delimiter is missing.
        const name = Buffer.concat([Buffer.from('form-data; name="file"; filename="'), rndBytes(r, int(r, 1, 64)).map(b => 0x80 | b), Buffer.from('"')])
        const body = bodyOf(part(boundary, name, `data ${word(r, 30)}`, false))
        const target = pick(r, ['add', 'admin:/add'])
        const admin = target === 'admin:/add'
        return { port: admin ? 'admin' : 'proxy', shape: admin ? 'admin-add' : 'intercepted', desc: `${target} with a non-UTF-8 file name, no closing delimiter`, head: head('POST', admin ? '/add' : '/api/v0/add', [['Content-Type', `multipart/form-data; boundary=${boundary}`]], body), body, allowStreamError: true }
      }
      if (variant === 4) {
        const body = bodyOf(Buffer.concat([Buffer.from('"'), rndBytes(r, int(r, 1, 200)).map(b => 0x80 | b), Buffer.from('"\n')]))
        return { port: 'admin', shape: 'admin', desc: 'POST /pins with a non-UTF-8 line', head: head('POST', '/pins', [['Content-Type', 'application/x-ndjson']], body), body }
      }
      const target = `/pins/${junk()}?name=${junk()}`
      return { port: 'admin', shape: 'admin', desc: `POST ${target}`, head: head('POST', target, [['X-Name', Buffer.from(rndBytes(r, 20).map(b => 0x80 | b))]]) }
    }
    case 'unknown-params': {
      const unknown = Array.from({ length: int(r, 1, 8) }, () => `${word(r, int(r, 1, 12))}=${enc(word(r, int(r, 0, 20)))}`).join('&')
      const cid = freshCid()
      const variant = int(r, 0, 3)
      if (variant === 0) {
        // Valid CIDs with an option that must be refused: nothing may reach the pinset.
        const bad = pick(r, [
          'recursive=maybe', 'progress=2', 'replication=abc', 'replication-min=3&replication-max=1', 'replication-min=-1&replication-max=2',
          'expire-in=forever', 'expire-in=500ms', 'wait=sometimes', 'name=a&name=b', 'replication=1.5', 'replication=', 'r=yes', 'arg='
        ])
        return { port: 'proxy', shape: 'intercepted', desc: `pin/add <fresh cid> ${bad} ${unknown}`, head: head('POST', `/api/v0/pin/add?arg=${cid}&${bad}&${unknown}`) }
      }
      if (variant === 1) {
        const [cmd, q] = pick(r, [
          ['pin/add', ''], ['pin/rm', ''], ['pin/ls', 'type=bogus'], ['pin/ls', `arg=${cid}`], ['pin/ls', 'stream=perhaps'], ['pin/rm', `arg=${cid}`],
          ['pin/update', `arg=${cid}`], ['pin/update', `arg=${cid}&arg=${freshCid()}`], ['pin/update', `arg=${cid}&arg=${freshCid()}&arg=${freshCid()}`],
          ['repo/stat', 'size-only=maybe'], ['repo/gc', 'stream-errors=maybe'], ['pin/rm', `arg=${cid}&recursive=nope`],
          // Aimed at pins that exist: each must be refused as a whole.
          ['pin/rm', `arg=${keptCid()}&recursive=nope`], ['pin/rm', `arg=${keptCid()}&arg=${enc(invalidCid(r, valid))}`],
          ['pin/update', `arg=${keptCid()}&arg=${cid}&unpin=maybe`], ['pin/update', `arg=${keptCid()}&arg=${enc(invalidCid(r, valid))}`],
          ['pin/add', `arg=${keptCid()}&recursive=false`], ['pin/add', `arg=${keptCid()}&name=${word(r, 300)}`]
        ] as const)
        return { port: 'proxy', shape: 'intercepted', desc: `${cmd}?${q}&${unknown}`, head: head('POST', `/api/v0/${cmd}?${q}&${unknown}`) }
      }
      if (variant === 2) {
        // A well-formed upload with an option Kubo or pinmesh refuses before anything is stored.
        const opt = pick(r, ['cid-version=7', 'chunker=bogus', 'hash=nohash', 'replication=abc', 'expire-in=zz', 'inline-limit=abc', 'raw-leaves=maybe', 'replication-min=2&replication-max=1', 'trickle=often'])
        const body = bodyOf(part(boundary, `form-data; name="file"; filename="${word(r, 6)}"`, `unknown params ${word(r, 40)}`))
        const admin = r() < 0.3
        return { port: admin ? 'admin' : 'proxy', shape: admin ? 'admin-add' : 'intercepted', desc: `${admin ? '/add' : 'add'}?${opt}&${unknown}`, head: head('POST', `${admin ? '/add' : '/api/v0/add'}?${opt}&${unknown}`, [['Content-Type', `multipart/form-data; boundary=${boundary}`]], body), body }
      }
      const [method, target] = pick(r, [
        ['POST', `/pins/${cid}?mode=bogus`], ['POST', `/pins/${cid}?replication=0`], ['POST', `/pins/${cid}?replication=abc`], ['POST', `/pins/${cid}?expire-in=0s`],
        ['POST', `/pins/${cid}?expire-in=zz`], ['POST', `/pins/${cid}?replication=50`], ['POST', `/pins/${cid}?replication-min=3&replication-max=2`],
        ['GET', '/pins?filter=bogus'], ['GET', `/pins?filter=pinned,${word(r, 5)}`], ['POST', `/pins/${keptCid()}?mode=bogus`], ['POST', `/pins/${keptCid()}?replication=-2`],
        ['POST', `/pins/${keptCid()}?expire-in=1ms`], ['DELETE', `/pins/${keptCid()}/x`], ['GET', `/pins/${cid}`], ['DELETE', `/pins/${cid}`], ['POST', `/pins/${cid}/recover`]
      ] as const)
      if (r() < 0.4) {
        // Bulk objects with fields of the wrong type (each once reached the pinset as sent).
        const line = pick(r, [
          { cid, mode: 'bogus' }, { cid, name: 123 }, { cid, allocations: 'zzz' }, { cid, allocations: [word(r, 8)] }, { cid, metadata: 'x' },
          { cid, metadata: { a: 1 } }, { cid, expireAt: 'soon' }, { cid, replicationMin: 0 }, { cid, replicationMax: 'many' }, { cid, userAllocations: [1, 2] }, [cid], { cid: 5 }
        ])
        const body = bodyOf(Buffer.from(JSON.stringify(line) + '\n'))
        return { port: 'admin', shape: 'admin', desc: `POST /pins ${JSON.stringify(line)}`, head: head('POST', '/pins', [['Content-Type', 'application/x-ndjson']], body), body }
      }
      return { port: 'admin', shape: 'admin', desc: `${method} ${target}&${unknown}`, head: head(method, `${target}${target.includes('?') ? '&' : '?'}${unknown}`) }
    }
    case 'oversized-car': {
      const variant = int(r, 0, 3)
      let car: Body
      let desc: string
      if (variant === 0) {
        // One block over Kubo's 2 MiB block limit.
        const bytes = rndBytes(r, 4096)
        const big = Buffer.alloc(int(r, (2 << 20) + 1, 6 << 20))
        for (let o = 0; o < big.length; o += bytes.length) bytes.copy(big, o)
        const cid = CID.create(1, raw.code, await sha256.digest(big))
        car = bodyOf(await carOf([{ cid, bytes: big }], [cid]))
        desc = `a CAR with one ${big.length}-byte block`
      } else if (variant === 1) {
        // Megabytes of good blocks, then a root block whose bytes do not match its CID.
        const n = int(r, 4, 40)
        const blocks = await Promise.all(Array.from({ length: n }, async () => { const bytes = rndBytes(r, 256 * 1024); return { cid: CID.create(1, raw.code, await sha256.digest(bytes)), bytes } }))
        const claimed = CID.create(1, raw.code, await sha256.digest(rndBytes(r, 64)))
        blocks.push({ cid: claimed, bytes: rndBytes(r, 64) })
        car = bodyOf(await carOf(blocks, [claimed]))
        desc = `a ${n * 256} KiB CAR whose root block is corrupt`
      } else if (variant === 2) {
        // A header announcing a terabyte, then noise.
        car = concatBodies(bodyOf(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x1f])), filler(r, int(r, 1 << 20, 8 << 20)))
        desc = 'a CAR header claiming a terabyte'
      } else {
        car = filler(r, int(r, 1 << 20, 12 << 20))
        desc = 'megabytes of noise as a CAR'
      }
      const open = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.car"\r\nContent-Type: application/vnd.ipld.car\r\n\r\n`)
      const body = concatBodies(bodyOf(open), car, bodyOf(Buffer.from(`\r\n--${boundary}--\r\n`)))
      return { port: 'proxy', shape: 'intercepted', desc: `dag/import ${desc}`, head: head('POST', '/api/v0/dag/import', [['Content-Type', `multipart/form-data; boundary=${boundary}`]], body), body, allowStreamError: true }
    }
    case 'malformed-http': {
      const port: Port = r() < 0.5 ? 'admin' : 'proxy'
      const path = port === 'admin' ? '/pins' : '/api/v0/pin/add'
      const [desc, text, allowClose] = pick(r, [
        ['garbage request line', `${word(r, 20, ALNUM + ' \t')}\r\n\r\n`, false],
        ['unknown HTTP version', `POST ${path} HTTP/9.9\r\nHost: x\r\n\r\n`, false],
        ['header without colon', `POST ${path} HTTP/1.1\r\nHost: x\r\n${word(r, 10)}\r\n\r\n`, false],
        ['space before colon', `POST ${path} HTTP/1.1\r\nHost : x\r\n\r\n`, false],
        ['Content-Length and Transfer-Encoding', `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, false],
        ['two different Content-Lengths', `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef`, false],
        ['negative Content-Length', `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n`, false],
        ['Content-Length not a number', `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${word(r, 5)}\r\n\r\n`, false],
        ['NUL in a header', `POST ${path} HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n`, false],
        ['no Host header', `POST ${path} HTTP/1.1\r\nConnection: close\r\n\r\n`, false],
        ['unknown method', `${word(r, 6, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')}X ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, false],
        ['invalid chunk size', `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`, true],
        ['unknown transfer coding', `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${word(r, 6)}\r\n\r\n`, false],
        ['obsolete line folding', `POST ${path} HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n`, false],
        ['CONNECT', `CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n`, true]
      ] as const)
      // A chunked body that stops parsing after the request was dispatched cannot always be answered.
      return { port, shape: 'parser', desc: `${desc} (${port})`, head: Buffer.from(text, 'latin1'), allowClose }
    }
  }
}

async function carOf (blocks: Array<{ cid: CID, bytes: Uint8Array }>, roots: CID[]): Promise<Buffer> {
  const { writer, out } = CarWriter.create(roots)
  const chunks: Uint8Array[] = []
  const collected = (async () => { for await (const c of out) chunks.push(c) })()
  for (const b of blocks) await writer.put(b)
  await writer.close()
  await collected
  return Buffer.concat(chunks)
}

interface RawReply { status: number, headers: Record<string, string>, body: Buffer, trailers: Record<string, string>, complete: boolean }
type Result = { kind: 'reply', reply: RawReply } | { kind: 'closed', error?: string } | { kind: 'timeout' }

/** Parses one HTTP/1.1 response (after any 1xx) from `buf`; undefined until the status line and headers are in. */
function parseResponse (buf: Buffer, eof: boolean): RawReply | undefined {
  let off = 0
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', off)
    if (end < 0) return undefined
    const lines = buf.subarray(off, end).toString('latin1').split('\r\n')
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')
    if (m === null) return { status: -1, headers: {}, body: buf, trailers: {}, complete: true }
    const status = Number(m[1])
    const headers: Record<string, string> = {}
    for (const l of lines.slice(1)) { const i = l.indexOf(':'); if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim() }
    off = end + 4
    if (status >= 100 && status < 200) continue
    const rest = buf.subarray(off)
    if ((headers['transfer-encoding'] ?? '').toLowerCase().includes('chunked')) {
      const chunks: Buffer[] = []
      let p = 0
      for (;;) {
        const le = rest.indexOf('\r\n', p)
        if (le < 0) return { status, headers, body: Buffer.concat(chunks), trailers: {}, complete: false }
        const size = parseInt(rest.subarray(p, le).toString('latin1').split(';')[0] as string, 16)
        p = le + 2
        if (size === 0) {
          if (rest.subarray(p, p + 2).toString() === '\r\n') return { status, headers, body: Buffer.concat(chunks), trailers: {}, complete: true }
          const te = rest.indexOf('\r\n\r\n', p)
          if (te < 0) return { status, headers, body: Buffer.concat(chunks), trailers: {}, complete: false }
          const trailers: Record<string, string> = {}
          for (const l of rest.subarray(p, te).toString('latin1').split('\r\n')) { const i = l.indexOf(':'); if (i > 0) trailers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim() }
          return { status, headers, body: Buffer.concat(chunks), trailers, complete: true }
        }
        if (Number.isNaN(size) || p + size + 2 > rest.length) return { status, headers, body: Buffer.concat(chunks), trailers: {}, complete: false }
        chunks.push(rest.subarray(p, p + size))
        p += size + 2
      }
    }
    const len = headers['content-length']
    if (len !== undefined) return { status, headers, body: rest.subarray(0, Number(len)), trailers: {}, complete: rest.length >= Number(len) }
    return { status, headers, body: rest, trailers: {}, complete: eof || status === 204 || status === 304 }
  }
}

/** Sends one raw request on its own connection and reads the answer until it is complete or the server closes. */
async function exchange (port: number, a: Attack, timeoutMs: number): Promise<Result> {
  return await new Promise<Result>((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port })
    let buf = Buffer.alloc(0)
    let done = false
    const finish = (r: Result): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(r)
    }
    const timer = setTimeout(() => { finish({ kind: 'timeout' }) }, timeoutMs)
    const settle = (error?: string): void => {
      const reply = parseResponse(buf, true)
      finish(reply !== undefined ? { kind: 'reply', reply } : { kind: 'closed', ...(error !== undefined ? { error } : {}) })
    }
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      const reply = parseResponse(buf, false)
      if (reply?.complete === true) finish({ kind: 'reply', reply })
    })
    socket.on('end', () => { settle() })
    socket.on('close', () => { settle() })
    // The server may answer and close before it read the whole body: what it answered still counts.
    socket.on('error', (err: NodeJS.ErrnoException) => { settle(err.code ?? err.message) })
    socket.once('connect', () => {
      void (async () => {
        try {
          if (!socket.write(a.head)) await drained(socket)
          for (const chunk of a.body?.chunks() ?? []) {
            if (done || socket.destroyed) return
            if (!socket.write(chunk)) await drained(socket)
          }
          if (a.halfClose === true && !socket.destroyed) socket.end()
        } catch { /* the server closed while we wrote; its answer, if any, is read above */ }
      })()
    })
  })
}

async function drained (socket: Socket): Promise<void> {
  await new Promise<void>((resolve) => {
    const ok = (): void => { socket.off('drain', ok); socket.off('close', ok); resolve() }
    socket.once('drain', ok)
    socket.once('close', ok)
  })
}

/** The outcome label (for the figures) and a fault message when the answer is wrong. */
function judge (a: Attack, result: Result): { label: string, fault?: string } {
  if (result.kind === 'timeout') return { label: 'timeout', fault: 'no answer and no close' }
  if (result.kind === 'closed') {
    const label = `closed${result.error !== undefined ? ` (${result.error})` : ''}`
    return a.allowClose === true ? { label } : { label, fault: 'connection closed without an answer' }
  }
  const { reply } = result
  const label = String(reply.status)
  if (reply.status < 0) return { label: 'garbage', fault: `not an HTTP answer: ${reply.body.subarray(0, 80).toString('latin1')}` }
  if (reply.status < 400) {
    const streamError = reply.trailers['x-stream-error'] ?? ''
    if (a.allowStreamError === true && reply.status === 200 && reply.complete && streamError !== '') return { label: '200+X-Stream-Error' }
    return { label, fault: `success status ${reply.status}: ${reply.body.subarray(0, 200).toString()}` }
  }
  if (!reply.complete && a.allowClose !== true) return { label, fault: `answer ${reply.status} cut off` }
  // The client cut its own request short: any error answer will do, as would a close.
  if (a.halfClose === true) return { label }
  const type = reply.headers['content-type'] ?? ''
  const text = reply.body.toString()
  const kuboShape = (): string | undefined => {
    if (type.startsWith('application/json')) {
      try {
        const v = JSON.parse(text) as Record<string, unknown>
        const keys = Object.keys(v).sort().join(',')
        if (keys !== 'Code,Message,Type' || typeof v.Message !== 'string' || v.Message === '' || typeof v.Code !== 'number' || v.Type !== 'error') return `not Kubo's error JSON: ${text.slice(0, 200)}`
        return undefined
      } catch { return `invalid JSON: ${text.slice(0, 200)}` }
    }
    if (type.startsWith('text/plain')) return text.endsWith('\n') && text.trim() !== '' ? undefined : `text error not one line: ${JSON.stringify(text.slice(0, 200))}`
    return `content-type ${JSON.stringify(type)}: ${text.slice(0, 200)}`
  }
  const adminShape = (): string | undefined => {
    try {
      const v = JSON.parse(text) as Record<string, unknown>
      if (Object.keys(v).sort().join(',') !== 'code,message' || typeof v.message !== 'string' || v.message === '') return `not {code, message}: ${text.slice(0, 200)}`
      const expected = (API_ERROR_CODES as Record<string, number>)[v.code as string]
      if (expected !== reply.status) return `code ${String(v.code)} with status ${reply.status} (table: ${String(expected)})`
      return undefined
    } catch { return `not JSON: ${text.slice(0, 200)}` }
  }
  let fault: string | undefined
  switch (a.shape) {
    case 'intercepted': fault = kuboShape(); break
    case 'passthrough': fault = undefined; break
    case 'admin': fault = adminShape(); break
    case 'admin-add': fault = adminShape() === undefined ? undefined : kuboShape(); break
    case 'parser': fault = undefined; break
  }
  return fault === undefined ? { label } : { label, fault }
}

/** Keeps a request head unfinished, one header line every 1–3 s, and times how long until the server closes. */
async function slowLoris (port: number, r: Rng, path: string, boundMs: number): Promise<{ closedMs: number | undefined, status: string }> {
  return await new Promise((resolve) => {
    const started = Date.now()
    const socket = connect({ host: '127.0.0.1', port })
    let got = ''
    let tick: NodeJS.Timeout | undefined
    const guard = setTimeout(() => { socket.destroy(); clearTimeout(tick); resolve({ closedMs: undefined, status: 'still open' }) }, boundMs)
    const drip = (): void => {
      tick = setTimeout(() => {
        if (socket.destroyed) return
        socket.write(`X-${word(r, 6)}: ${word(r, 10)}\r\n`)
        drip()
      }, int(r, 1000, 3000))
    }
    socket.on('data', (d: Buffer) => { got += d.toString('latin1') })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(guard)
      clearTimeout(tick)
      resolve({ closedMs: Date.now() - started, status: /^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 'closed' })
    })
    socket.once('connect', () => {
      socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`)
      drip()
    })
  })
}

async function rssOf (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}

/** The pinset as CID → the record's JSON, so that a changed record counts as a change too. */
async function pinsetRecords (adminUrl: string): Promise<Map<string, string>> {
  const res = await fetch(`${adminUrl}/allocations`)
  if (res.status !== 200) throw new Error(`GET /allocations: ${res.status}`)
  const lines = (await res.text()).split('\n').filter(l => l !== '')
  return new Map(lines.map(l => [(JSON.parse(l) as { cid: string }).cid, l]))
}

/**
 * How much pinmesh's RSS may grow over a run, from after the warm-up to after the last answer. The
 * most one request makes pinmesh hold is a pin/add argument body (refused at 16 MiB, briefly twice
 * that while it is joined and decoded) or a 64 KiB bulk line; with 6 requests in flight, plus the
 * heap V8 keeps once grown, 1,000 requests measured 57–75 MiB of growth on the 2-core test machine.
 * The bound does not depend on the number of requests: a leak of a few KiB per request exceeds it
 * in the 20,000-request run.
 */
export const RSS_GROWTH_BOUND = 160 * 2 ** 20
/** Highest RSS above the baseline while requests run (measured: 62–75 MiB). */
export const RSS_PEAK_BOUND = 320 * 2 ** 20

/**
 * Node closes a connection whose headers are incomplete after headersTimeout (30 s on both ports by
 * default), but checks only every connectionsCheckingInterval (30 s): up to 60 s; 30 s more for a
 * loaded machine.
 */
export const SLOW_LORIS_BOUND_MS = 90_000

export async function badInputScenario (options: BadInputOptions): Promise<BadInputFigures> {
  const log = options.log ?? (() => {})
  const concurrency = options.concurrency ?? 6
  const timeoutMs = options.requestTimeoutMs ?? 60_000
  const started = Date.now()
  log(`bad input: seed ${options.seed}, ${options.requests} requests, concurrency ${concurrency}`)
  let kubo: KuboDaemon | undefined
  let pinmesh: PinmeshProcess | undefined
  try {
    kubo = await startKubo()
    // Admin API without auth: every malformed request reaches the routes (auth is the security suite's).
    pinmesh = await startPinmesh({ kuboApi: kubo.apiMultiaddr, secret: newSecret() })
    const pm = pinmesh
    const pid = pm.process.pid as number
    const ports = { proxy: Number(new URL(pm.proxyUrl).port), admin: Number(new URL(pm.apiUrl).port) }
    // Fresh valid CIDs, never pinned: a request that carries one and is wrongly accepted changes the pinset.
    const valid = await makeCids(64, `bad-input-${options.seed}`)
    const kept: string[] = []
    for (let i = 0; i < 8; i++) {
      const put = await kubo.cli(['block', 'put'], { input: `bad input kept ${options.seed} ${i}` })
      if (put.code !== 0) throw new Error(`block put: ${put.stderr}`)
      const cid = put.stdout.trim()
      const pinned = await fetch(`${pm.apiUrl}/pins/${cid}?name=kept-${i}`, { method: 'POST' })
      if (pinned.status !== 200) throw new Error(`pinning ${cid}: ${pinned.status} ${await pinned.text()}`)
      kept.push(cid)
    }
    const ctx: Ctx = { valid, kept }

    // Warm up the code paths once, so that the baseline includes what any first request allocates.
    for (let i = 0; i < 20; i++) {
      await fetch(`${pm.proxyUrl}/api/v0/pin/ls?arg=QmNotACid`, { method: 'POST' }).then(async r => await r.arrayBuffer())
      await fetch(`${pm.apiUrl}/pins/QmNotACid`).then(async r => await r.arrayBuffer())
    }
    const before = await pinsetRecords(pm.apiUrl)
    const rssBefore = await rssOf(pid)
    let rssPeak = rssBefore
    const sampler = setInterval(() => { rssOf(pid).then((v) => { rssPeak = Math.max(rssPeak, v) }, () => {}) }, 250)

    const byCategory: Record<string, CategoryFigures> = {}
    const count = (category: string, label: string, fault: boolean): void => {
      const c = byCategory[category] ??= { sent: 0, faults: 0, statuses: {} }
      c.sent++
      c.statuses[label] = (c.statuses[label] ?? 0) + 1
      if (fault) c.faults++
    }
    const faultSamples: string[] = []
    let faults = 0

    const perPort = options.slowLorisPerPort ?? 4
    const lorisRng = mulberry32(options.seed ^ 0x51f15eed)
    const loris = Promise.all(Array.from({ length: perPort * 2 }, async (_, i) => {
      const port = i % 2 === 0 ? ports.proxy : ports.admin
      const res = await slowLoris(port, lorisRng, i % 2 === 0 ? '/api/v0/pin/add' : '/pins', SLOW_LORIS_BOUND_MS)
      const label = res.closedMs === undefined ? 'still open' : `closed ${res.status}`
      const fault = res.closedMs === undefined
      count('slow-loris', label, fault)
      if (fault) { faults++; faultSamples.push(`slow-loris ${i} (${i % 2 === 0 ? 'proxy' : 'admin'}): still open after ${SLOW_LORIS_BOUND_MS} ms`) }
      return res.closedMs
    }))

    let next = 0
    let sent = 0
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++
        if (i >= options.requests) return
        const r = mulberry32((options.seed ^ Math.imul(i + 1, 0x9E3779B1)) >>> 0)
        const category = CATEGORIES[i % CATEGORIES.length] as typeof CATEGORIES[number]
        const attack: Attack = { category, ...await generate(category, r, ctx) }
        const result = await exchange(ports[attack.port], attack, timeoutMs)
        sent++
        const verdict = judge(attack, result)
        count(category, verdict.label, verdict.fault !== undefined)
        if (verdict.fault !== undefined) {
          faults++
          if (faultSamples.length < 20) faultSamples.push(`#${i} ${category} ${attack.port} ${attack.desc}: ${verdict.label}: ${verdict.fault}`)
        }
        if (sent % 250 === 0) log(`${sent}/${options.requests} sent, ${faults} faults, RSS ${mb(rssPeak)} peak`)
      }
    }
    const requestsStarted = Date.now()
    await Promise.all(Array.from({ length: concurrency }, worker))
    const requestsMs = Date.now() - requestsStarted
    const lorisMs = await loris
    clearInterval(sampler)

    const alive = pm.process.exitCode === null && pm.process.signalCode === null &&
      (await fetch(`${pm.apiUrl}/health`).then(r => r.status, () => 0)) === 204 &&
      (await fetch(`${pm.proxyUrl}/api/v0/version`, { method: 'POST' }).then(r => r.status, () => 0)) === 200
    const after = alive ? await pinsetRecords(pm.apiUrl) : new Map<string, string>()
    const rssAfter = alive ? await rssOf(pid) : 0
    const figures: BadInputFigures = {
      seed: options.seed,
      requests: sent,
      byCategory,
      faults,
      faultSamples,
      pinsBefore: before.size,
      pinsAfter: after.size,
      pinsetChanges: [...new Set([...before.keys(), ...after.keys()])].filter(c => before.get(c) !== after.get(c)).length,
      rssBefore,
      rssPeak,
      rssAfter,
      slowLoris: lorisMs.length,
      slowLorisClosed: lorisMs.filter(ms => ms !== undefined).length,
      slowLorisMaxMs: Math.max(0, ...lorisMs.map(ms => ms ?? SLOW_LORIS_BOUND_MS)),
      alive,
      requestsMs,
      durationMs: Date.now() - started
    }
    if (!alive) log(`pinmesh is gone; its output:\n${pm.output().slice(-4000)}`)
    return figures
  } finally {
    await pinmesh?.destroy()
    await kubo?.destroy()
  }
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`

/** The figures as lines for t.diagnostic. */
export function badInputReport (f: BadInputFigures): string[] {
  const lines = [`seed ${f.seed}: ${f.requests} requests in ${(f.requestsMs / 1000).toFixed(1)} s (+${f.slowLoris} slow-loris connections; ${(f.durationMs / 1000).toFixed(1)} s in all), ${f.faults} faults`]
  for (const [category, c] of Object.entries(f.byCategory)) {
    const statuses = Object.entries(c.statuses).sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s}×${n}`).join(' ')
    lines.push(`  ${category}: ${c.sent} sent, ${c.faults} faults; ${statuses}`)
  }
  lines.push(`pinset: ${f.pinsBefore} pins before, ${f.pinsAfter} after, ${f.pinsetChanges} changes`)
  lines.push(`RSS: ${mb(f.rssBefore)} before, ${mb(f.rssPeak)} peak, ${mb(f.rssAfter)} after (growth ${mb(f.rssAfter - f.rssBefore)})`)
  lines.push(`slow-loris: ${f.slowLorisClosed}/${f.slowLoris} closed by the server, the last after ${(f.slowLorisMaxMs / 1000).toFixed(1)} s`)
  lines.push(`daemon alive after the run: ${f.alive}`)
  for (const s of f.faultSamples) lines.push(`FAULT ${s}`)
  return lines
}

export function badInputSummary (f: BadInputFigures): string {
  return `bad-input seed=${f.seed} requests=${f.requests} faults=${f.faults} pinsetChanges=${f.pinsetChanges} ` +
    `rss=${mb(f.rssBefore)}→${mb(f.rssAfter)} (peak ${mb(f.rssPeak)}) slowLoris=${f.slowLorisClosed}/${f.slowLoris} closed ≤${(f.slowLorisMaxMs / 1000).toFixed(1)}s alive=${f.alive}`
}
