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
 * (`/api/v0/pin/add/<cid>`).
 */
export function matchIntercept (pathname: string, table: InterceptTable): RouteMatch | undefined {
  if (!pathname.startsWith(API_PREFIX) || table.size === 0) return undefined
  const rest = pathname.slice(API_PREFIX.length).replace(/\/+$/, '')
  const exact = table.get(rest)
  if (exact !== undefined) return { command: rest, handler: exact, args: [] }
  const slash = rest.lastIndexOf('/')
  if (slash <= 0) return undefined
  const command = rest.slice(0, slash)
  const handler = table.get(command)
  if (handler === undefined) return undefined
  let arg = rest.slice(slash + 1)
  try { arg = decodeURIComponent(arg) } catch { /* keep it raw, as Go's router would */ }
  return { command, handler, args: [arg] }
}
