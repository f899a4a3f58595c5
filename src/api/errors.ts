import {
  AbortError, InsufficientPeersError, InvalidCidError, InvalidParametersError, KuboApiError, KuboPinTimeoutError,
  KuboUnavailableError, NotFoundError, NotStartedError, PinsetWriteError, QueueFullError, RpcError
} from '../errors.js'

/** The admin API's error body. `code` values are stable and documented in the README. */
export interface ApiErrorBody { code: string, message: string }

/** Errors the API itself raises (routing, auth) before any component is called. */
export class ApiError extends Error {
  static readonly NAME = 'ApiError'
  override readonly name = ApiError.NAME
  readonly status: number
  readonly code: string
  constructor (status: number, code: string, message: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

/**
 * Every `code` the admin API answers with, and its HTTP status. The README's admin API section
 * lists the same codes (a unit test keeps them in step).
 */
export const API_ERROR_CODES = {
  ERR_INVALID_CID: 400,
  ERR_INVALID_PARAMETERS: 400,
  ERR_INVALID_JSON: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_PIN_NOT_FOUND: 404,
  ERR_NOT_FOUND: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_TOO_LARGE: 413,
  ERR_INTERNAL: 500,
  ERR_KUBO: 502,
  ERR_KUBO_UNAVAILABLE: 502,
  ERR_PEER_UNREACHABLE: 502,
  ERR_NOT_READY: 503,
  ERR_INSUFFICIENT_PEERS: 503,
  ERR_QUEUE_FULL: 503,
  ERR_TIMEOUT: 504,
  ERR_STORAGE: 507
} as const

export type ApiErrorCode = keyof typeof API_ERROR_CODES

function wire (code: ApiErrorCode, message: string): { status: number, body: ApiErrorBody } {
  return { status: API_ERROR_CODES[code], body: { code, message } }
}

/** The one table from named errors to HTTP status and stable code on the admin port. */
export function toApiError (err: unknown): { status: number, body: ApiErrorBody } {
  if (err instanceof Error) {
    switch (err.name) {
      case ApiError.NAME: { const e = err as ApiError; return { status: e.status, body: { code: e.code, message: e.message } } }
      case InvalidCidError.NAME: return wire('ERR_INVALID_CID', err.message)
      case InvalidParametersError.NAME: return wire('ERR_INVALID_PARAMETERS', err.message)
      case NotFoundError.NAME: return wire('ERR_PIN_NOT_FOUND', err.message)
      case NotStartedError.NAME: return wire('ERR_NOT_READY', err.message)
      case InsufficientPeersError.NAME: return wire('ERR_INSUFFICIENT_PEERS', err.message)
      case QueueFullError.NAME: return wire('ERR_QUEUE_FULL', err.message)
      case KuboUnavailableError.NAME: return wire('ERR_KUBO_UNAVAILABLE', err.message)
      case KuboApiError.NAME: return wire('ERR_KUBO', err.message)
      case RpcError.NAME: return wire('ERR_PEER_UNREACHABLE', err.message)
      case PinsetWriteError.NAME: return wire('ERR_STORAGE', err.message)
      case KuboPinTimeoutError.NAME:
      case 'TimeoutError': return wire('ERR_TIMEOUT', err.message)
      case AbortError.NAME: return wire('ERR_TIMEOUT', err.message)
      default: return wire('ERR_INTERNAL', err.message)
    }
  }
  return wire('ERR_INTERNAL', String(err))
}
