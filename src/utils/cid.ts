import { CID } from 'multiformats/cid'
import { InvalidCidError } from '../errors.js'

/**
 * Parses a CID in any multibase and returns its canonical string: CIDv0 as base58 `Qm…`,
 * CIDv1 as base32 `b…`, the forms Kubo prints by default.
 */
export function canonicalCid (value: string): string {
  try {
    return CID.parse(value.trim()).toString()
  } catch (err) {
    throw new InvalidCidError(`invalid CID "${value.length > 100 ? value.slice(0, 100) + '…' : value}": ${(err as Error).message}`, { cause: err })
  }
}
