import type { ServerResponse } from 'node:http'

/**
 * Kubo's wire shapes for errors (go-ipfs-cmds), so the `ipfs` CLI and kubo-rpc-client react
 * exactly as they do against Kubo:
 * - a command error before any output: 500 (400 when Code is 1) with `{"Message","Code","Type":"error"}`;
 * - a request that cannot be parsed: 400 text/plain `<message>\n`;
 * - an error after output started: the `X-Stream-Error` trailer.
 */

/** go-ipfs-cmds error codes. */
export const KuboErrorCode = { normal: 0, client: 1, implementation: 2, rateLimited: 3, forbidden: 4 } as const

/** Headers Kubo puts on every command response, success or JSON error. */
export const KUBO_COMMAND_HEADERS: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Headers': 'X-Stream-Output, X-Chunked-Output, X-Content-Length',
  'Access-Control-Expose-Headers': 'X-Stream-Output, X-Chunked-Output, X-Content-Length',
  'Content-Type': 'application/json',
  Trailer: 'X-Stream-Error',
  Vary: 'Origin'
}

/** JSON as Go's encoding/json writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped, one value per line. */
export function goJson (value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n'
}

/** Answers with Kubo's JSON error body. Status 400 for client errors (Code 1), else `status` (500 by default). */
export function sendKuboError (res: ServerResponse, message: string, options: { status?: number, code?: number } = {}): void {
  const code = options.code ?? KuboErrorCode.normal
  const status = options.status ?? (code === KuboErrorCode.client ? 400 : 500)
  if (res.headersSent) { endWithStreamError(res, message); return }
  const body = goJson({ Message: message, Code: code, Type: 'error' })
  res.writeHead(status, { ...KUBO_COMMAND_HEADERS })
  res.end(body)
}

/** Answers like Go's http.Error, which Kubo uses for request parse errors (400) and 403/404/405. */
export function sendKuboTextError (res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) { endWithStreamError(res, message); return }
  const body = `${message}\n`
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
    Vary: 'Origin'
  })
  res.end(body)
}

/** Ends a response whose body has started with the `X-Stream-Error` trailer, as Kubo does mid-stream. */
export function endWithStreamError (res: ServerResponse, message: string): void {
  if (res.writableEnded) return
  if (res.getHeader('content-length') !== undefined) { res.destroy(); return }
  // Go turns newlines in header values into spaces; Node refuses control characters outright.
  res.addTrailers({ 'X-Stream-Error': sanitizeHeaderValue(message) })
  res.end()
}

export function sanitizeHeaderValue (value: string): string {
  return value.replace(/[\r\n]+/g, ' ').replace(/[^\t\x20-\x7e\x80-\xff]/g, '?')
}
