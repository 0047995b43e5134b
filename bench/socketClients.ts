// Benchmark 4's owners: one process holding a WebSocket per owner, each subscribed to its own business, noting
// when every `call.updated` arrives and where each owner's copy of its stream ends (the offsets of the events).
// Run by bench/sockets.ts:
//   bun bench/socketClients.ts <ws-url> <owners.json> <events expected> [resume]
// owners.json: [{ businessId, token }]. Prints `ready` once every socket is subscribed, then, when the
// expected events have arrived (or after 120 s), one JSON line: [[callId, receivedAtMillis], ...] on the
// wall clock every process here shares (performance.timeOrigin + performance.now()).
// With `resume`, it then stays: once the server has closed every socket it prints `dropped`, and on a line
// `resume <ws-url>` on stdin it reopens every socket at once, each subscribing with `since` (the offset and
// epoch of the last event it holds), retrying a socket that fails before it has caught up. A socket has caught
// up when it holds every event up to the `subscribed` frame's offset. When all have (or after 120 s), one JSON
// line: ResumeResult.
import { readFileSync } from "node:fs"

const [url, ownersFile, expectedText, mode] = process.argv.slice(2)
if (!url || !ownersFile || !expectedText)
  throw new Error("usage: socketClients.ts <ws-url> <owners.json> <n> [resume]")
const owners = JSON.parse(readFileSync(ownersFile, "utf8")) as ReadonlyArray<{
  readonly businessId: string
  readonly token: string
}>
const expected = Number(expectedText)
const now = () => performance.timeOrigin + performance.now()

export interface ResumeResult {
  /** Per owner, from the reconnect's start to holding `subscribed` and every event up to its offset. */
  readonly millis: ReadonlyArray<number>
  /** Per owner: [businessId, the last offset held with none missing before it]. */
  readonly last: ReadonlyArray<[string, number]>
  /** Events received at or below an offset already held (over the whole run). */
  readonly duplicated: number
  /** Events skipped: offsets jumped over, and what a refused resume (`recovered: false`) left out. */
  readonly gaps: number
  readonly notRecovered: number
  /** Sockets opened again because one failed or closed before it caught up. */
  readonly retries: number
}

/** One owner's copy of its stream. */
interface Copy {
  readonly businessId: string
  readonly token: string
  socket: WebSocket | null
  epoch: string
  /** The last offset held: every event up to it has arrived (or was counted in `gaps`). */
  last: number
  /** In a resume: the `subscribed` frame's offset, and when the copy reached it. */
  target: number | null
  caughtUpAt: number | null
}

const copies: Array<Copy> = owners.map((owner) => ({
  ...owner,
  socket: null,
  epoch: "",
  last: 0,
  target: null,
  caughtUpAt: null
}))
const received: Array<[string, number]> = []
const done = Promise.withResolvers<void>()
let duplicated = 0
let gaps = 0
let notRecovered = 0
let retries = 0
let resuming: { readonly startedAt: number; readonly finished: PromiseWithResolvers<void> } | null = null
let caughtUp = 0
let closed = 0

interface Frame {
  readonly type: string
  readonly callId?: string
  readonly offset?: number
  readonly epoch?: string
  readonly recovered?: boolean
}

/** Holds an event's offset: once, in order; anything else is counted. */
const hold = (copy: Copy, offset: number) => {
  if (offset <= copy.last) duplicated++
  else {
    gaps += offset - copy.last - 1
    copy.last = offset
  }
}

const checkCaughtUp = (copy: Copy, at: number) => {
  if (!resuming || copy.caughtUpAt !== null || copy.target === null || copy.last < copy.target) return
  copy.caughtUpAt = at
  if (++caughtUp === copies.length) resuming.finished.resolve()
}

const onFrame = (copy: Copy, frame: Frame, at: number) => {
  if (frame.type === "subscribed") {
    copy.epoch = frame.epoch ?? ""
    const offset = frame.offset ?? 0
    if (resuming) {
      // A resume refused: the snapshot stands in for what was missed, which this copy never gets.
      if (frame.recovered !== true) {
        notRecovered++
        if (offset > copy.last) gaps += offset - copy.last
        copy.last = Math.max(copy.last, offset)
      }
      copy.target = offset
      checkCaughtUp(copy, at)
    } else copy.last = offset
    return
  }
  if (typeof frame.offset === "number") hold(copy, frame.offset)
  if (frame.type === "call.updated" && frame.callId && !resuming) {
    received.push([frame.callId, at])
    if (received.length >= expected) done.resolve()
  }
  checkCaughtUp(copy, at)
}

/** The first subscription; rejects if the socket fails or closes before it is subscribed. */
const open = (copy: Copy) =>
  new Promise<void>((resolve, reject) => {
    const socket = new WebSocket(url)
    copy.socket = socket
    socket.onopen = () =>
      socket.send(JSON.stringify({ type: "subscribe", businessId: copy.businessId, token: copy.token }))
    socket.onerror = () => reject(new Error(`socket for ${copy.businessId} failed`))
    socket.onclose = ({ code }) => {
      copy.socket = null
      reject(new Error(`socket for ${copy.businessId} closed (${code})`))
      if (++closed === copies.length && mode === "resume" && resuming === null) console.log("dropped")
    }
    socket.onmessage = ({ data }) => {
      const at = now()
      const frame = JSON.parse(String(data)) as Frame
      onFrame(copy, frame, at)
      if (frame.type === "subscribed") resolve()
    }
  })

/** A resuming socket: subscribes with `since`, and is opened again (shortly) if it fails before catching up. */
const reopen = (copy: Copy, wsUrl: string) => {
  const socket = new WebSocket(wsUrl)
  copy.socket = socket
  socket.onopen = () =>
    socket.send(
      JSON.stringify({
        type: "subscribe",
        businessId: copy.businessId,
        token: copy.token,
        since: { offset: copy.last, epoch: copy.epoch }
      })
    )
  socket.onmessage = ({ data }) => onFrame(copy, JSON.parse(String(data)) as Frame, now())
  socket.onclose = () => {
    if (copy.socket !== socket || copy.caughtUpAt !== null) return
    copy.socket = null
    copy.target = null
    retries++
    setTimeout(() => reopen(copy, wsUrl), 100 + Math.random() * 200)
  }
}

// Open in waves, as owners arrive, not 10,000 handshakes at once.
for (let i = 0; i < copies.length; i += 250) await Promise.all(copies.slice(i, i + 250).map(open))
console.log("ready")

await Promise.race([done.promise, Bun.sleep(120_000)])
console.log(JSON.stringify(received))

if (mode === "resume") {
  for await (const line of console) {
    const [command, wsUrl] = line.trim().split(" ")
    if (command !== "resume" || !wsUrl) continue
    const finished = Promise.withResolvers<void>()
    resuming = { startedAt: now(), finished }
    // Every owner at once, as after a restart.
    for (const copy of copies) reopen(copy, wsUrl)
    await Promise.race([finished.promise, Bun.sleep(120_000)])
    const startedAt = resuming.startedAt
    const result: ResumeResult = {
      millis: copies.flatMap((c) => (c.caughtUpAt === null ? [] : [c.caughtUpAt - startedAt])),
      last: copies.map((c) => [c.businessId, c.last]),
      duplicated,
      gaps,
      notRecovered,
      retries
    }
    console.log(JSON.stringify(result))
    break
  }
}

for (const copy of copies) {
  if (!copy.socket) continue
  copy.socket.onclose = null
  copy.socket.close()
}
process.exit(0)
