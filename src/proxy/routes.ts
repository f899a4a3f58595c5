import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from '../logger.js'

export const API_PREFIX = '/api/v0/'

/** What an intercepting handler gets for one request. */
export interface InterceptContext {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  /** The command path without prefix, e.g. `pin/add`. */
  readonly command: string
  /** Positional args: the path-embedded one first (`/api/v0/pin/add/<cid>`), then every `arg=`. */
  readonly args: readonly string[]
  /** The query string as sent, repeated keys kept in order. */
  readonly query: URLSearchParams
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal
  readonly logger: Logger
  /** Hands the request to Kubo untouched instead (nothing may have been written or read yet). */
  forward (): void
}

/**
 * Handles one intercepted command and answers in Kubo's shapes. It may throw before writing
 * anything; the proxy then maps the error to Kubo's error shape (kubo-errors.ts).
 */
export type InterceptHandler = (ctx: InterceptContext) => Promise<void>

/** Command path (`pin/add`) → handler. Everything not in the table goes to Kubo untouched. */
export type InterceptTable = ReadonlyMap<string, InterceptHandler>

export interface RouteMatch { command: string, handler: InterceptHandler, args: string[] }

/**
 * Finds the intercepting handler for a request path, or undefined to pass it through.
 * Like go-ipfs-cmds, a trailing path segment after a known command is its first argument
 * (`/api/v0/pin/add/<cid>`); a percent-encoded one may hold slashes (`…/pin/ls/%2Fipfs%2FQm…`).
 * Kubo routes on the percent-decoded path, so the command is matched decoded too: otherwise
 * `/api/v0/pin%2Fadd` would pass through and pin in Kubo alone, behind the cluster's back.
 */
export function matchIntercept (pathname: string, table: InterceptTable): RouteMatch | undefined {
  if (table.size === 0) return undefined
  const decoded = decode(pathname)
  if (!decoded.startsWith(API_PREFIX)) return undefined
  const rest = decoded.slice(API_PREFIX.length).replace(/\/+$/, '')
  const exact = table.get(rest)
  if (exact !== undefined) return { command: rest, handler: exact, args: [] }
  // The argument is the last raw segment, decoded on its own, so that it keeps encoded slashes.
  const rawSlash = pathname.replace(/\/+$/, '').lastIndexOf('/')
  const rawCommand = decode(pathname.slice(0, rawSlash))
  if (rawSlash > 0 && rawCommand.startsWith(API_PREFIX)) {
    const command = rawCommand.slice(API_PREFIX.length)
    const handler = table.get(command)
    if (handler !== undefined) return { command, handler, args: [decode(pathname.replace(/\/+$/, '').slice(rawSlash + 1))] }
  }
  // Encoded slashes in the command part (`pin%2Fadd%2F<cid>`): Kubo splits the decoded path.
  const slash = rest.lastIndexOf('/')
  if (slash <= 0) return undefined
  const command = rest.slice(0, slash)
  const handler = table.get(command)
  if (handler === undefined) return undefined
  return { command, handler, args: [rest.slice(slash + 1)] }
}

/** Percent-decoded; kept raw when it is not valid percent-encoding, as Go's router would. */
function decode (s: string): string {
  try { return decodeURIComponent(s) } catch { return s }
}
