import { InvalidCidError, InvalidParametersError, NotFoundError, NotStartedError } from '../errors.js'

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

/** The one table from named errors to HTTP status and stable code on the admin port. */
export function toApiError (err: unknown): { status: number, body: ApiErrorBody } {
  if (err instanceof Error) {
    switch (err.name) {
      case ApiError.NAME: { const e = err as ApiError; return { status: e.status, body: { code: e.code, message: e.message } } }
      case InvalidCidError.NAME: return { status: 400, body: { code: 'ERR_INVALID_CID', message: err.message } }
      case InvalidParametersError.NAME: return { status: 400, body: { code: 'ERR_INVALID_PARAMETERS', message: err.message } }
      case NotFoundError.NAME: return { status: 404, body: { code: 'ERR_PIN_NOT_FOUND', message: err.message } }
      case NotStartedError.NAME: return { status: 503, body: { code: 'ERR_NOT_READY', message: err.message } }
      default: return { status: 500, body: { code: 'ERR_INTERNAL', message: err.message } }
    }
  }
  return { status: 500, body: { code: 'ERR_INTERNAL', message: String(err) } }
}
