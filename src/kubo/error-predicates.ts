import { KuboApiError, isErrorNamed } from '../errors.js'

// The only place Kubo's error texts are compared. Each text is quoted as Kubo v0.42.0 sends it
// (boxo's pinner and kubo's core/commands/pin); callers branch on these predicates instead.

function kuboMessage (err: unknown): string | undefined {
  return isErrorNamed(err, KuboApiError.NAME) ? (err as KuboApiError).kuboMessage : undefined
}

/** `pin/rm` of a CID with no direct or recursive pin: `not pinned or pinned indirectly`. */
export function isNotPinnedError (err: unknown): boolean {
  return kuboMessage(err) === 'not pinned or pinned indirectly'
}

/** `pin/ls?arg=<cid>` of a CID Kubo does not pin at all: `path '<arg>' is not pinned`. */
export function isPathNotPinnedError (err: unknown): boolean {
  return /^path '.*' is not pinned$/s.test(kuboMessage(err) ?? '')
}

/** A direct `pin/add` of a CID pinned recursively: `pin: <cid> already pinned recursively`. */
export function isAlreadyPinnedRecursivelyError (err: unknown): boolean {
  return /^pin: \S+ already pinned recursively$/.test(kuboMessage(err) ?? '')
}

/** `pin/rm?recursive=false` of a CID pinned recursively: `<cid> is pinned recursively`. */
export function isPinnedRecursivelyError (err: unknown): boolean {
  return /^\S+ is pinned recursively$/.test(kuboMessage(err) ?? '')
}

/** `pin/update` whose `from` has no recursive pin: `'from' cid was not recursively pinned already`. */
export function isUpdateFromNotPinnedError (err: unknown): boolean {
  return kuboMessage(err) === "'from' cid was not recursively pinned already"
}

/** `pin/update` whose `to` is pinned recursively already: `'to' cid was already recursively pinned`. */
export function isUpdateToAlreadyPinnedError (err: unknown): boolean {
  return kuboMessage(err) === "'to' cid was already recursively pinned"
}
