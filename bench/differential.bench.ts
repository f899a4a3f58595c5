// The differential (issue 11): every command `ipfs commands` lists, run with the real ipfs CLI once against Kubo
// and once through pinmesh's proxy, by running test/integration/proxy-differential.test.ts (the same run as in
// `npm test`) and reading the outcome it writes.
// Run: npm run bench:differential. The figure goes to stdout as markdown and to bench/out/differential.json;
// the exit code is the test's (1 on an unexpected difference).
import { spawn } from 'node:child_process'
import { mkdir, readFile } from 'node:fs/promises'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const OUT = join(ROOT, 'bench', 'out', 'differential.json')

interface Report {
  identical: number
  total: number
  commands: number
  notRun: string[]
  seconds: number
  expected: Array<{ id: string, reason: string }>
  unexpected: Array<{ id: string, diff?: string }>
  nowIdentical: string[]
}

await mkdir(dirname(OUT), { recursive: true })
const code = await new Promise<number>((resolve, reject) => {
  const proc = spawn(process.execPath, ['--import', 'tsx', '--import', './test/setup.ts', '--test', '--test-reporter=dot', 'test/integration/proxy-differential.test.ts'], {
    cwd: ROOT,
    env: { ...process.env, PINMESH_DIFFERENTIAL_REPORT: OUT },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  proc.once('error', reject)
  proc.once('close', (c) => { resolve(c ?? 1) })
})
const r = JSON.parse(await readFile(OUT, 'utf8')) as Report
const lines = [
  `**${r.identical}/${r.total} cases identical** (${r.total - r.identical} differ: ${r.expected.length} expected, ${r.unexpected.length} unexpected), ` +
    `covering ${r.commands - r.notRun.length} of the ${r.commands} commands \`ipfs commands\` lists, in ${r.seconds.toFixed(1)} s.`,
  '',
  '| expected difference | reason |',
  '|---|---|',
  ...r.expected.map(e => `| \`${e.id}\` | ${e.reason.replaceAll('|', '\\|')} |`),
  '',
  'Not run: ' + r.notRun.map(n => `\`${n.split(':')[0] ?? n}\` (${n.split(': ').slice(1).join(': ')})`).join('; ') + '.'
]
if (r.unexpected.length > 0) lines.push('', 'Unexpected differences:', ...r.unexpected.map(u => `- \`${u.id}\`: ${u.diff ?? ''}`))
if (r.nowIdentical.length > 0) lines.push('', 'Listed as expected but identical now: ' + r.nowIdentical.map(i => `\`${i}\``).join(', '))
console.log(lines.join('\n'))
process.exitCode = code
