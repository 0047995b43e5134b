// Benchmark 4's baseline: raw Bun pub/sub with nothing of ours. A socket's first message subscribes it to
// `business:<businessId>` (no token, no database); `POST /burst` with [[businessId, callId], ...] publishes
// one message per pair and answers when each was published, on the same wall clock as the clients.
//   bun bench/rawPubSub.ts <port>
const port = Number(process.argv[2])
const now = () => performance.timeOrigin + performance.now()

const server = Bun.serve<{ subscribed: boolean }>({
  hostname: "127.0.0.1",
  port,
  async fetch(request, server) {
    const url = new URL(request.url)
    if (url.pathname === "/cable") {
      return server.upgrade(request, { data: { subscribed: false } })
        ? undefined
        : new Response("upgrade failed", { status: 400 })
    }
    if (url.pathname === "/burst" && request.method === "POST") {
      const pairs = (await request.json()) as ReadonlyArray<[string, string]>
      const publishedAt: Array<[string, number]> = []
      for (const [businessId, callId] of pairs) {
        publishedAt.push([callId, now()])
        server.publish(`business:${businessId}`, JSON.stringify({ type: "call.updated", businessId, callId }))
      }
      return Response.json(publishedAt)
    }
    return new Response("ok")
  },
  websocket: {
    message(ws, message) {
      const { businessId } = JSON.parse(String(message)) as { readonly businessId: string }
      ws.subscribe(`business:${businessId}`)
      ws.send(JSON.stringify({ type: "subscribed", businessId }))
    }
  }
})
console.log(`listening ${server.port}`)
