// pinmesh status page: polls the admin API it is served by (relative URLs, so it also works
// behind a path prefix) and renders peers and pins, a page of pins at a time (GET /pins?limit=…,
// following its X-Next-Cursor): a pinset of millions is never fetched whole. No build step, no dependencies.
'use strict'

const POLL_MS = 2000
const PAGE_SIZE = 100
/** Cursors of the pages shown so far: [0] is the first page (no cursor); the last is the one shown. */
const cursors = [undefined]
/** The shown page's next cursor, if any. */
let nextCursor
const $ = (sel) => document.querySelector(sel)

function el (tag, attrs = {}, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v
    else e.setAttribute(k, v)
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)))
  return e
}

function short (id) { return id.length > 16 ? `${id.slice(0, 6)}…${id.slice(-6)}` : id }

function bytes (n) {
  if (typeof n !== 'number') return '—'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`
}

function yesNo (v) {
  if (v === undefined) return el('span', { class: 'muted' }, '—')
  return el('span', { class: v ? 'yes' : 'no' }, v ? 'yes' : 'no')
}

async function get (path) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' })
  if (!res.ok) {
    let message = `${res.status}`
    try { message = (await res.json()).message ?? message } catch {}
    throw new Error(`${path}: ${message}`)
  }
  return res
}

function pinsPath () {
  const cursor = cursors[cursors.length - 1]
  return `../pins?limit=${PAGE_SIZE}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`
}

async function load () {
  const [id, peers, stats, page] = await Promise.all([
    get('../id').then(r => r.json()),
    get('../peers').then(r => r.json()),
    get('../pinset/stats').then(r => r.json()),
    get(pinsPath()).then(async r => ({ text: r.status === 204 ? '' : await r.text(), next: r.headers.get('x-next-cursor') ?? undefined }))
  ])
  const pins = page.text.split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l))
  return { id, peers, stats, pins, next: page.next }
}

function renderPeers ({ id, peers, stats }, names) {
  const rows = [{ id: id.id, peername: id.peername, self: true, alive: true, queued: stats.queued }, ...peers]
  const body = el('tbody')
  for (const p of rows) {
    body.append(el('tr', { 'data-peer-id': p.id },
      el('td', { title: p.id }, el('code', {}, short(p.id)), p.self ? el('span', { class: 'muted' }, ' (this peer)') : ''),
      el('td', {}, p.peername ?? names.get(p.id) ?? '—'),
      el('td', { class: 'alive' }, yesNo(p.alive)),
      el('td', { class: 'connected' }, p.self ? el('span', { class: 'muted' }, '—') : yesNo(p.connected)),
      el('td', { class: 'num' }, bytes(p.freeSpace)),
      el('td', { class: 'num' }, typeof p.queued === 'number' ? String(p.queued) : '—')))
  }
  $('#peers tbody').replaceWith(body)
  const alive = rows.filter(p => p.alive).length
  $('#peers-summary').textContent = `${alive} of ${rows.length} alive`
}

function renderPins ({ pins, stats, next }, names) {
  const counts = new Map()
  for (const pin of pins) for (const info of Object.values(pin.peerMap)) counts.set(info.status, (counts.get(info.status) ?? 0) + 1)
  const countBox = el('div', { id: 'status-counts', class: 'counts' })
  for (const [status, n] of [...counts].sort()) countBox.append(el('span', { class: `badge ${status}`, 'data-status': status }, `${status}: ${n}`))
  $('#status-counts').replaceWith(countBox)

  const body = el('tbody')
  for (const pin of pins) {
    const cell = el('td', {})
    const byName = Object.entries(pin.peerMap).map(([peer, info]) => [names.get(peer) ?? short(peer), peer, info]).sort((x, y) => x[0].localeCompare(y[0]))
    for (const [label, peer, info] of byName) {
      cell.append(el('span', { class: `badge ${info.status}`, 'data-peer': peer, 'data-status': info.status, title: info.error ?? peer }, `${label}: ${info.status}`))
    }
    const rf = pin.replicationMin === -1 ? 'every peer' : `${pin.replicationMin}–${pin.replicationMax}`
    body.append(el('tr', { 'data-cid': pin.cid }, el('td', { title: pin.cid }, el('code', {}, short(pin.cid))), el('td', {}, pin.name || '—'), el('td', {}, rf), cell))
  }
  $('#pins tbody').replaceWith(body)
  nextCursor = next
  const page = cursors.length
  const from = (page - 1) * PAGE_SIZE
  $('#pins-page').textContent = pins.length === 0 ? `page ${page}` : `page ${page}: pins ${from + 1}–${from + pins.length}`
  $('#pins-prev').disabled = page === 1
  $('#pins-next').disabled = next === undefined
  // The pinset's size comes from its figures; the status counts are those of the page shown.
  $('#pins-summary').textContent = `${typeof stats.pins === 'number' ? stats.pins : '—'} in the pinset`
}

let timer
/** Bumped by every tick: a tick overtaken by a newer one (a page turned meanwhile) neither renders nor polls on. */
let generation = 0
/** Shows another page now (the poll carries on from there). */
function turn (change) {
  change()
  clearTimeout(timer)
  void tick()
}

$('#pins-next').addEventListener('click', () => {
  const cursor = nextCursor
  if (cursor === undefined) return
  // Taken once: a second click before the next page is shown must not push the same cursor again.
  nextCursor = undefined
  $('#pins-next').disabled = true
  turn(() => cursors.push(cursor))
})
$('#pins-prev').addEventListener('click', () => { if (cursors.length > 1) turn(() => cursors.pop()) })

async function tick () {
  const started = Date.now()
  const state = $('#state')
  const mine = ++generation
  try {
    const data = await load()
    if (mine !== generation) return
    const names = new Map([[data.id.id, data.id.peername], ...data.peers.filter(p => p.peername).map(p => [p.id, p.peername])])
    // Peers named alike (the default name is the host name) are told apart by their ids.
    const seen = [...names.values()]
    for (const [id, name] of names) if (seen.indexOf(name) !== seen.lastIndexOf(name)) names.set(id, `${name} ${short(id)}`)
    $('#cluster-name').textContent = data.id.clusterName
    $('#self').textContent = `${data.id.peername} · ${data.id.id} · v${data.id.version}`
    renderPeers(data, names)
    renderPins(data, names)
    state.className = 'state'
    state.textContent = `updated ${new Date().toLocaleTimeString()}`
  } catch (err) {
    if (mine !== generation) return
    state.className = 'state error'
    state.textContent = `cannot load: ${err.message}`
  }
  // A big cluster answers slowly; poll less often rather than piling requests up.
  timer = setTimeout(tick, Math.max(POLL_MS, (Date.now() - started) * 5))
}

tick()
