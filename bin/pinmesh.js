#!/usr/bin/env node
// The CLI runs from the compiled output; `npm run build` (run by `npm install`/`npm test`) creates it.
import { existsSync } from 'node:fs'
const entry = new URL('../dist/bin/pinmesh.js', import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write('pinmesh: dist/ is missing; run `npm run build` in the pinmesh checkout first\n')
  process.exit(1)
}
await import(entry.href)
