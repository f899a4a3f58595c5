import { test } from 'node:test'
import assert from 'node:assert/strict'
import { goJson, toKuboError } from '../../../src/proxy/index.js'
import { InvalidParametersError, KuboApiError, KuboUnavailableError } from '../../../src/errors.js'

test('goJson escapes like Go encoding/json and ends with a newline', () => {
  assert.equal(goJson({ Message: '<a href="x">&</a>\u2028' }), '{"Message":"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e\\u2028"}\n')
  assert.deepEqual(JSON.parse(goJson({ s: '<>&' })), { s: '<>&' })
})

const cases: Array<[string, unknown, { status: number, code: number, text: boolean }]> = [
  ['bad parameters are a 400 text error like Kubo parse errors', new InvalidParametersError('bad'), { status: 400, code: 1, text: true }],
  ["Kubo's own errors keep Kubo's status and code", new KuboApiError('pin/rm', 500, 'not pinned or pinned indirectly', 0), { status: 500, code: 0, text: false }],
  ['an unreachable Kubo is a 502 JSON error', new KuboUnavailableError('http://127.0.0.1:5001'), { status: 502, code: 0, text: false }],
  ['anything else is a 500 JSON error', new Error('boom'), { status: 500, code: 0, text: false }],
  ['a thrown non-error is a 500 JSON error', 'weird', { status: 500, code: 0, text: false }]
]
for (const [name, err, want] of cases) {
  test(`toKuboError: ${name}`, () => {
    const w = toKuboError(err)
    assert.deepEqual({ status: w.status, code: w.code, text: w.text }, want)
    assert.ok(w.message.length > 0)
  })
}
