import { request, type IncomingMessage, type ClientRequest } from 'node:http'
import { KuboUnavailableError } from '../errors.js'
import type { AddDestination, DestinationHead } from './types.js'

/** This peer's own Kubo, over HTTP, full duplex (Kubo answers while the upload goes on). */
export async function openLocalDestination (peer: string, kuboUrl: string, command: string, query: string, contentType: string, signal: AbortSignal, authorization?: string): Promise<AddDestination> {
  const url = `${kuboUrl}/api/v0/${command}?${query}`
  const req: ClientRequest = request(url, {
    method: 'POST',
    headers: { 'content-type': contentType, 'transfer-encoding': 'chunked', ...(authorization !== undefined ? { authorization } : {}) },
    signal
  })
  let res: IncomingMessage | undefined
  const head = new Promise<DestinationHead>((resolve, reject) => {
    req.once('response', (r) => { res = r; resolve({ status: r.statusCode ?? 0, headers: r.headers, rawHeaders: r.rawHeaders }) })
    req.once('error', (err) => { reject(res === undefined && (err as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? new KuboUnavailableError(kuboUrl, { cause: err }) : err) })
  })
  head.catch(() => {})
  // Kubo may finish its answer and close the connection before the last bytes of the upload (the
  // chunked terminator) are written: Node then never reports the request finished. Once the answer
  // is complete, the rest of the upload is of no use to this Kubo, so writing it is a no-op.
  const answered = (): boolean => res?.complete === true
  return {
    peer,
    async write (chunk) {
      if (answered()) return
      if (req.destroyed) throw new Error('local kubo upload closed')
      if (!req.write(chunk)) {
        await new Promise<void>((resolve, reject) => {
          const onClose = (): void => { req.off('drain', onDrain); if (answered()) resolve(); else reject(new Error('local kubo upload closed')) }
          const onDrain = (): void => { req.off('close', onClose); resolve() }
          req.once('drain', onDrain)
          req.once('close', onClose)
        })
      }
    },
    async end () {
      if (answered() || req.destroyed) return
      // A request cut short is reported by body(), which the fan-out reads.
      await new Promise<void>((resolve) => { req.once('close', resolve); req.end(resolve) })
    },
    abort (reason) { req.destroy(reason) },
    head,
    async * body () {
      await head
      for await (const chunk of res as IncomingMessage) yield chunk as Uint8Array
    },
    trailers () {
      const t: Record<string, string> = {}
      for (const [k, v] of Object.entries(res?.trailers ?? {})) if (v !== undefined) t[k.toLowerCase()] = v
      return t
    }
  }
}
