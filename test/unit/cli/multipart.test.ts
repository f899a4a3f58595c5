import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import busboy from 'busboy'
import { collectEntries, multipartBody, multipartContentType, newBoundary, type AddEntry } from '../../../src/cli/multipart.js'

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pinmesh-mp-'))
  await mkdir(join(dir, 'tree', 'sub', 'deeper'), { recursive: true })
  await mkdir(join(dir, 'tree', 'empty'))
  await writeFile(join(dir, 'tree', 'b.txt'), 'bee')
  await writeFile(join(dir, 'tree', 'a b.txt'), 'a space')
  await writeFile(join(dir, 'tree', '.hidden'), 'secret')
  await writeFile(join(dir, 'tree', 'sub', 'é.txt'), 'accent')
  await writeFile(join(dir, 'tree', 'sub', 'deeper', 'z'), '')
  await symlink('b.txt', join(dir, 'tree', 'link'))
  await writeFile(join(dir, 'single.bin'), Buffer.alloc(1000, 7))
})
after(async () => { await rm(dir, { recursive: true, force: true }) })

test('a directory is listed depth-first, sorted, directory before children, hidden names skipped', async () => {
  const entries = await collectEntries([join(dir, 'tree'), join(dir, 'single.bin')])
  assert.deepEqual(entries.map(e => `${e.kind} ${e.name} ${e.size}`), [
    'dir tree 0',
    'file tree/a b.txt 7',
    'file tree/b.txt 3',
    'dir tree/empty 0',
    'symlink tree/link 0',
    'dir tree/sub 0',
    'dir tree/sub/deeper 0',
    'file tree/sub/deeper/z 0',
    'file tree/sub/é.txt 6',
    'file single.bin 1000'
  ])
  assert.equal(entries.find(e => e.kind === 'symlink')?.source, 'b.txt')
  const withHidden = await collectEntries([join(dir, 'tree')], { hidden: true })
  assert.ok(withHidden.some(e => e.name === 'tree/.hidden'))
})

test('a missing path is a usage error', async () => {
  await assert.rejects(collectEntries([join(dir, 'nope')]), (e: Error) => e.name === 'CliUsageError' && /no such file or directory/.test(e.message))
})

test('the multipart body is what kubo-rpc-client sends: field names, encoded filenames, part types, contents', async () => {
  const entries: AddEntry[] = [...await collectEntries([join(dir, 'tree')]), { kind: 'stdin', name: '', source: 'stdin', size: 0 }]
  const boundary = newBoundary()
  const open = async function * (source: string): AsyncGenerator<Uint8Array> {
    if (source === 'stdin') { yield Buffer.from('from '); yield Buffer.from('stdin') } else yield await readFile(source)
  }
  const chunks: Buffer[] = []
  for await (const c of multipartBody(entries, boundary, open)) chunks.push(Buffer.from(c))
  const body = Buffer.concat(chunks)
  assert.ok(body.subarray(0, boundary.length + 2).equals(Buffer.from(`--${boundary}`)))
  assert.ok(body.toString().endsWith(`--${boundary}--\r\n`))

  const parts: Array<{ field: string, filename: string, type: string, body: string }> = []
  await new Promise<void>((resolve, reject) => {
    const bb = busboy({ headers: { 'content-type': multipartContentType(boundary) } })
    bb.on('file', (field, stream, info) => {
      const got: Buffer[] = []
      stream.on('data', (d: Buffer) => got.push(d))
      stream.on('end', () => { parts.push({ field, filename: info.filename ?? '', type: info.mimeType, body: Buffer.concat(got).toString() }) })
    })
    bb.on('close', resolve)
    bb.on('error', reject)
    bb.end(body)
  })
  assert.deepEqual(parts.map(p => [p.field, decodeURIComponent(p.filename ?? ''), p.type, p.body]), [
    ['dir', 'tree', 'application/x-directory', ''],
    ['file-1', 'tree/a b.txt', 'application/octet-stream', 'a space'],
    ['file-2', 'tree/b.txt', 'application/octet-stream', 'bee'],
    ['dir-3', 'tree/empty', 'application/x-directory', ''],
    ['file-4', 'tree/link', 'application/symlink', 'b.txt'],
    ['dir-5', 'tree/sub', 'application/x-directory', ''],
    ['dir-6', 'tree/sub/deeper', 'application/x-directory', ''],
    ['file-7', 'tree/sub/deeper/z', 'application/octet-stream', ''],
    ['file-8', 'tree/sub/é.txt', 'application/octet-stream', 'accent'],
    ['file-9', '', 'application/octet-stream', 'from stdin']
  ])
  assert.match(body.toString(), /filename="tree%2Fa%20b\.txt"/)
  assert.match(body.toString(), /filename="tree%2Fsub%2F%C3%A9\.txt"/)
})
