// Prints the README's configuration reference table from the schema: `npx tsx scripts/config-reference.ts`.
import { settings } from '../src/config/index.js'

const rows = settings().map(s => {
  const def = JSON.stringify(s.field.toFile(s.field.default))
  return `| \`${s.dotted}\` | \`${s.env}\` | \`--${s.flag}\` | \`${def}\` | ${s.field.doc.replace(/\|/g, '\\|')} |`
})
process.stdout.write(['| key (config.json) | env | flag | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n') + '\n')
