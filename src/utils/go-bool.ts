/** Go's strconv.ParseBool, which Kubo's option parsing uses: true, false, or undefined for any other text. */
export function parseGoBool (v: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false
  return undefined
}

/**
 * A bool option of a query that Kubo itself will validate (the request goes on to Kubo): `def`
 * when absent, otherwise true only for what Go takes as true.
 */
export function queryFlag (q: URLSearchParams, key: string, def: boolean): boolean {
  const v = q.get(key)
  return v === null ? def : parseGoBool(v) === true
}
