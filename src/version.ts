import { readFileSync } from 'node:fs'

/** pinmesh's own version, from package.json. */
export const PINMESH_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
