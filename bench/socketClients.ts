// Benchmark 4's owners: one process holding a WebSocket per owner, each subscribed to its own business, noting
// when every `call.updated` arrives. Run by bench/sockets.ts:
//   bun bench/socketClients.ts <ws-url> <owners.json> <events expected>
// owners.json: [{ businessId, token }]. Prints `ready` once every socket is subscribed, then, when the
// expected events have arrived (or after 120 s), one JSON line: [[callId, receivedAtMillis], ...] on the
// wall clock every process here shares (performance.timeOrigin + performance.now()).
import { readFileSync } from "node:fs"

const [url, ownersFile, expectedText] = process.argv.slice(2)
if (!url || !ownersFile || !expectedText)
  throw new Error("usage: socketClients.ts <ws-url> <owners.json> <n>")
const owners = JSON.parse(readFileSync(ownersFile, "utf8")) as ReadonlyArray<{
  readonly businessId: string
  readonly token: string
}>
const expected = Number(expectedText)
const now = () => performance.timeOrigin + performance.now()

const received: Array<[string, number]> = []
const done = Promise.withResolvers<void>()
const sockets: Array<WebSocket> = []

const open = (owner: { readonly businessId: string; readonly token: string }) =>
  new Promise<void>((resolve, reject) => {
    const socket = new WebSocket(url)
    sockets.push(socket)
    socket.onopen = () => socket.send(JSON.stringify({ type: "subscribe", ...owner }))
    socket.onerror = () => reject(new Error(`socket for ${owner.businessId} failed`))
    socket.onclose = ({ code }) => reject(new Error(`socket for ${owner.businessId} closed (${code})`))
    socket.onmessage = ({ data }) => {
      const at = now()
      const message = JSON.parse(String(data)) as { readonly type: string; readonly callId?: string }
      if (message.type === "subscribed") resolve()
      else if (message.type === "call.updated" && message.callId) {
        received.push([message.callId, at])
        if (received.length >= expected) done.resolve()
      }
    }
  })

// Open in waves, as owners arrive, not 10,000 handshakes at once.
for (let i = 0; i < owners.length; i += 250) await Promise.all(owners.slice(i, i + 250).map(open))
console.log("ready")

await Promise.race([done.promise, Bun.sleep(120_000)])
console.log(JSON.stringify(received))
for (const socket of sockets) {
  socket.onclose = null
  socket.close()
}
process.exit(0)
