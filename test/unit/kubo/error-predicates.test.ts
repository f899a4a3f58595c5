import { test } from 'node:test'
import assert from 'node:assert/strict'
import { KuboApiError } from '../../../src/errors.js'
import {
  isAlreadyPinnedRecursivelyError, isNotPinnedError, isPathNotPinnedError, isPinnedRecursivelyError,
  isUpdateFromNotPinnedError, isUpdateToAlreadyPinnedError
} from '../../../src/kubo/index.js'

const CID = 'bafkreih3f2mnqbvkid3knox5h6x6jxygu2c2n5u46yvu5imohj44wbl3e4'
const predicates = { isNotPinnedError, isPathNotPinnedError, isAlreadyPinnedRecursivelyError, isPinnedRecursivelyError, isUpdateFromNotPinnedError, isUpdateToAlreadyPinnedError }

// Messages exactly as Kubo 0.42.0 sent them (captured with curl).
const cases: Array<[string, keyof typeof predicates | undefined]> = [
  ['not pinned or pinned indirectly', 'isNotPinnedError'],
  [`path '${CID}' is not pinned`, 'isPathNotPinnedError'],
  [`pin: ${CID} already pinned recursively`, 'isAlreadyPinnedRecursivelyError'],
  [`${CID} is pinned recursively`, 'isPinnedRecursivelyError'],
  ["'from' cid was not recursively pinned already", 'isUpdateFromNotPinnedError'],
  ["'to' cid was already recursively pinned", 'isUpdateToAlreadyPinnedError'],
  ['invalid path "x": path does not have enough components', undefined]
]

for (const [message, expected] of cases) {
  test(`"${message}" matches ${expected ?? 'no predicate'} only`, () => {
    const err = new KuboApiError('pin/x', 500, message)
    for (const [name, predicate] of Object.entries(predicates)) assert.equal(predicate(err), name === expected, name)
  })
}

test('errors other than KuboApiError never match, whatever their message', () => {
  for (const predicate of Object.values(predicates)) assert.equal(predicate(new Error('not pinned or pinned indirectly')), false)
  assert.equal(isNotPinnedError('not pinned or pinned indirectly'), false)
})
