import { KuboApiError } from '../errors.js'

/** Kubo's limit on a pin name, in bytes. */
export const MAX_PIN_NAME_BYTES = 255

/**
 * Refuses a pin name Kubo would refuse, with Kubo's own text and status.
 * @throws KuboApiError (500, `pin name is N bytes (max 255 bytes)`) for a name over 255 bytes.
 */
export function assertPinName (name: string, command: string): void {
  const bytes = Buffer.byteLength(name)
  if (bytes > MAX_PIN_NAME_BYTES) throw new KuboApiError(command, 500, `pin name is ${bytes} bytes (max ${MAX_PIN_NAME_BYTES} bytes)`)
}
