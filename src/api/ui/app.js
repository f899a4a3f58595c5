// pinmesh status page: polls the admin API it is served by (relative URLs, so it also works
// behind a path prefix) and renders peers and pins. No build step, no dependencies.
'use strict'

const POLL_MS = 2000
const MAX_PIN_ROWS = 500
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

async function load () {
  const [id, peers, stats, pinsText] = await Promise.all([
    get('../id').then(r => r.json()),
    get('../peers').then(r => r.json()),
    get('../pinset/stats').then(r => r.json()),
    get('../pins').then(r => r.status === 204 ? '' : r.text())
  ])
  const pins = pinsText.split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l))
  return { id, peers, stats, pins }
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

function renderPins ({ pins }, names) {
  const counts = new Map()
  for (const pin of pins) for (const info of Object.values(pin.peerMap)) counts.set(info.status, (counts.get(info.status) ?? 0) + 1)
  const countBox = el('div', { id: 'status-counts', class: 'counts' })
  for (const [status, n] of [...counts].sort()) countBox.append(el('span', { class: `badge ${status}`, 'data-status': status }, `${status}: ${n}`))
  $('#status-counts').replaceWith(countBox)

  const body = el('tbody')
  for (const pin of pins.slice(0, MAX_PIN_ROWS)) {
    const cell = el('td', {})
    const byName = Object.entries(pin.peerMap).map(([peer, info]) => [names.get(peer) ?? short(peer), peer, info]).sort((x, y) => x[0].localeCompare(y[0]))
    for (const [label, peer, info] of byName) {
      cell.append(el('span', { class: `badge ${info.status}`, 'data-peer': peer, 'data-status': info.status, title: info.error ?? peer }, `${label}: ${info.status}`))
    }
    const rf = pin.replicationMin === -1 ? 'every peer' : `${pin.replicationMin}–${pin.replicationMax}`
    body.append(el('tr', { 'data-cid': pin.cid }, el('td', { title: pin.cid }, el('code', {}, short(pin.cid))), el('td', {}, pin.name || '—'), el('td', {}, rf), cell))
  }
  $('#pins tbody').replaceWith(body)
  const more = $('#pins-more')
  more.hidden = pins.length <= MAX_PIN_ROWS
  more.textContent = `showing ${MAX_PIN_ROWS} of ${pins.length} pins`
  $('#pins-summary').textContent = `${pins.length} in the pinset`
}

async function tick () {
  const started = Date.now()
  const state = $('#state')
  try {
    const data = await load()
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
    state.className = 'state error'
    state.textContent = `cannot load: ${err.message}`
  }
  // A big cluster answers slowly; poll less often rather than piling requests up.
  setTimeout(tick, Math.max(POLL_MS, (Date.now() - started) * 5))
}

tick()
