// A stock Yjs client for tests/yjs: npm's yjs + y-websocket + ws, unchanged, driven by JSON lines on
// stdin; it answers one JSON line per command on stdout and reports the provider's events as lines too.
// argv[2]: {"url", "room", "ca", "servername", "cert"?, "key"?, "token"?}
import fs from 'node:fs'
import readline from 'node:readline'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'

const opts = JSON.parse(process.argv[2])
const say = (line) => process.stdout.write(JSON.stringify(line) + '\n')
const tls = { ca: fs.readFileSync(opts.ca), servername: opts.servername }
if (opts.cert) {
  tls.cert = fs.readFileSync(opts.cert)
  tls.key = fs.readFileSync(opts.key)
}
class TlsWebSocket extends WebSocket {
  constructor (url, protocols) { super(url, protocols, tls) }
}
console.warn = (...args) => say({ event: 'warn', text: args.join(' ') })
const doc = new Y.Doc()
const provider = new WebsocketProvider(opts.url, opts.room, doc, {
  WebSocketPolyfill: TlsWebSocket,
  params: opts.token ? { token: opts.token } : {},
  disableBc: true
})
let closed = null
provider.on('closed', (event) => { closed = event.code; say({ event: 'closed', code: event.code }) })
provider.on('connection-close', (event) => { if (event) say({ event: 'connection-close', code: event.code }) })

const text = (roots) => roots.map((r) => JSON.stringify(doc.getMap(r).toJSON())).join('\n')
const until = (check, timeout, subscribe) => new Promise((resolve) => {
  if (check()) return resolve(true)
  const timer = setTimeout(() => { off(); resolve(false) }, timeout)
  const listener = () => { if (check()) { clearTimeout(timer); off(); resolve(true) } }
  const off = subscribe(listener)
})
const onDoc = (l) => { doc.on('update', l); return () => doc.off('update', l) }
const onSync = (l) => { provider.on('sync', l); return () => provider.off('sync', l) }
const onClosed = (l) => { provider.on('closed', l); return () => provider.off('closed', l) }

const ops = {
  set: async (c) => { doc.getMap(c.root).set(c.key, c.value); return { clientID: doc.clientID } },
  synced: async (c) => ({ done: await until(() => provider.synced, c.timeout, onSync) }),
  has: async (c) => ({ done: await until(() => doc.getMap(c.root).has(c.key), c.timeout, onDoc) }),
  contains: async (c) => ({ done: await until(() => text(c.roots).includes(c.text), c.timeout, onDoc) }),
  get: async (c) => ({ value: doc.getMap(c.root).toJSON() }),
  closed: async (c) => ({ done: await until(() => closed !== null, c.timeout, onClosed), code: closed, reconnecting: provider.shouldConnect }),
  exit: async () => { provider.destroy(); setTimeout(() => process.exit(0), 50); return {} }
}
for await (const line of readline.createInterface({ input: process.stdin })) {
  const command = JSON.parse(line)
  say({ reply: command.op, ...(await ops[command.op](command)) })
}
