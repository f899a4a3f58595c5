import { InvalidParametersError, KuboApiError, KuboUnavailableError } from '../errors.js'
import { KuboErrorCode } from './kubo-errors.js'

/** How one error goes on the wire of the proxy port. */
export interface KuboWireError {
  status: number
  message: string
  code: number
  /** Kubo's request-parse errors are plain text (Go's http.Error), not JSON. */
  text: boolean
}

/**
 * The one table from pinmesh's named errors to Kubo's shapes on the proxy port.
 * Kubo's own errors keep Kubo's status, code and text.
 */
export function toKuboError (err: unknown): KuboWireError {
  if (err instanceof Error) {
    switch (err.name) {
      case InvalidParametersError.NAME:
        return { status: 400, message: err.message, code: KuboErrorCode.client, text: true }
      case KuboApiError.NAME: {
        const e = err as KuboApiError
        return { status: e.status >= 400 ? e.status : 500, message: e.kuboMessage, code: e.kuboCode, text: false }
      }
      case KuboUnavailableError.NAME:
        return { status: 502, message: err.message, code: KuboErrorCode.normal, text: false }
      default:
        return { status: 500, message: err.message, code: KuboErrorCode.normal, text: false }
    }
  }
  return { status: 500, message: String(err), code: KuboErrorCode.normal, text: false }
}
