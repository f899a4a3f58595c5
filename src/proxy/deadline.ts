import { DeadlineExceededError, InvalidParametersError } from '../errors.js'
import { parseDuration } from '../utils/duration.js'

/**
 * Kubo's global `timeout=<Go duration>` option: the whole command runs under that deadline, and
 * an expired one fails it with Go's "context deadline exceeded", after the command's own prefix.
 */
export function requestTimeoutMs (query: URLSearchParams): number | undefined {
  const value = query.get('timeout')
  if (value === null) return undefined
  try {
    return parseDuration(value)
  } catch {
    // Kubo answers an empty 200 here (its handler returns without writing); a clear 400 is kinder.
    throw new InvalidParametersError(`time: invalid duration "${value}"`)
  }
}

/**
 * What Kubo prefixes its context errors with, per command, when it answers with an error body
 * (pin/add's "pin: "); a stream that has started (`progress=true`) ends with the bare error.
 */
const PREFIX: Readonly<Record<string, string>> = { 'pin/add': 'pin: ' }

/** The error a command fails with when its deadline passes, worded as Kubo's. */
export function deadlineError (command: string, options: { streaming?: boolean } = {}): DeadlineExceededError {
  return new DeadlineExceededError(options.streaming === true ? '' : PREFIX[command] ?? '')
}
