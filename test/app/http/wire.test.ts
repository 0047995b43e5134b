// Requests as raw bytes on a socket to the listening app, where a client is not held to what `fetch` would
// send: a Host header that is no host, a chunked body that never ends or counts characters rather than
// bytes, a body that is not UTF-8. Each gets a JSON 4xx saying what is wrong, and nothing changes.
import { connect } from "node:net"
import { Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MemoryRepositoryControl } from "../../../src/adapters/memory/MemoryRepository.ts"
import { MAX_BODY_BYTES } from "../../../src/app/http/respond.ts"
import { makeTestApp, SETTINGS, trialBody } from "../../support/httpApp.ts"

let t: Awaited<ReturnType<typeof makeTestApp>>
let port = 0
beforeAll(async () => {
  t = await makeTestApp()
  t.app.listen({ port: 0, hostname: "127.0.0.1" })
  port = t.app.server?.port ?? 0
})
afterAll(async () => {
  await t.app.stop(true)
  await t.close()
})

interface RawResponse {
  readonly status: number
  readonly headers: string
  readonly body: string
}

/**
 * Writes `head` then each of `chunks` and reads one response: resolved as soon as its headers and its
 * Content-Length of body are in, whether or not everything was written (a server may answer before it
 * has read a body it refuses), and whether or not the connection then closes.
 */
const exchange = (head: string, chunks: ReadonlyArray<Uint8Array | string> = []) =>
  new Promise<RawResponse>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1")
    let received: Buffer = Buffer.alloc(0)
    const done = (response: RawResponse) => {
      socket.destroy()
      resolve(response)
    }
    socket.on("data", (data: Buffer) => {
      received = Buffer.concat([received, data])
      const end = received.indexOf("\r\n\r\n")
      if (end < 0) return
      const headers = received.subarray(0, end).toString("latin1")
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(headers)?.[1] ?? 0)
      const body = received.subarray(end + 4)
      if (body.length < length) return
      done({
        status: Number(headers.split(" ")[1]),
        headers,
        body: body.subarray(0, length).toString("utf8")
      })
    })
    socket.on("error", (error) => (received.length > 0 ? undefined : reject(error)))
    socket.on("connect", async () => {
      socket.write(head)
      for (const chunk of chunks) {
        if (socket.destroyed) return
        await new Promise<void>((written) => socket.write(chunk, () => written()))
      }
    })
  })

const json = (response: RawResponse) =>
  JSON.parse(response.body) as { error: { code: string; message: string } }

const chunk = (bytes: Uint8Array | string) => {
  const data = typeof bytes === "string" ? Buffer.from(bytes, "utf8") : Buffer.from(bytes)
  return Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")])
}
const LAST_CHUNK = "0\r\n\r\n"

const counts = () => t.run(MemoryRepositoryControl.use((r) => r.counts))

describe("a Host header that is not a host name", () => {
  it("is a 400 saying so on the routes of the route table, and creates nothing", async () => {
    const before = await counts()
    for (const host of ["a b", "a:b", "a:99999", "@", "[::1", ":80"]) {
      const health = await exchange(`GET /health HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
      expect(health.status, host).toBe(400)
      expect(json(health).error).toEqual({
        code: "invalid_request",
        message: "the Host header is not a valid host name"
      })
      const body = JSON.stringify(trialBody())
      const create = await exchange(
        `POST /api/trials HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${t.service}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
      )
      expect(create.status, host).toBe(400)
    }
    expect(await counts()).toEqual(before)
  })

  it("is not a request without a Host, which HTTP/1.0 allows (a load balancer's health check)", async () => {
    const health = await exchange("GET /health HTTP/1.0\r\n\r\n")
    expect(health.status).toBe(200)
  })
})

describe("a body sent in chunks", () => {
  const chunkedHead = (path: string, headers = "") =>
    `POST ${path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n${headers}\r\n`

  it("is read up to the limit only: a body that never ends is refused with the JSON 413 once it passes it", async () => {
    const before = await counts()
    const kilobyte = "x".repeat(1024)
    // 65 KiB, then nothing more and no last chunk: the answer cannot wait for the end of the body.
    const chunks = Array.from({ length: MAX_BODY_BYTES / 1024 + 1 }, () => chunk(kilobyte))
    for (const path of ["/webhooks/twilio/inbound", "/api/trials"]) {
      const response = await exchange(
        chunkedHead(path, `Authorization: Bearer ${t.service}\r\nContent-Type: application/json\r\n`),
        chunks
      )
      expect(response.status, path).toBe(413)
      expect(json(response).error.code).toBe("payload_too_large")
    }
    expect(await counts()).toEqual(before)
  })

  it("is measured in bytes: 22,000 euro signs are 66,000 bytes, over the limit though only 22,000 characters", async () => {
    const secret = `X-Vapi-Secret: ${Redacted.value(SETTINGS.vapiWebhookSecret)}\r\nContent-Type: application/json\r\n`
    const message = (summary: string) =>
      JSON.stringify({
        message: { type: "end-of-call-report", call: { id: "c-wire" }, analysis: { summary } }
      })
    const over = await exchange(chunkedHead("/webhooks/vapi", secret), [
      chunk(message("€".repeat(22_000))),
      LAST_CHUNK
    ])
    expect(over.status).toBe(413)
    expect(json(over).error.code).toBe("payload_too_large")
    // Within the limit, a chunked body is read whole and answered as any other.
    const within = await exchange(chunkedHead("/webhooks/vapi", secret), [
      chunk(message("€".repeat(20_000))),
      LAST_CHUNK
    ])
    expect(within.status).toBe(200)
  })

  it("creates a trial as a body with a Content-Length does", async () => {
    const body = trialBody()
    const response = await exchange(
      chunkedHead("/api/trials", `Authorization: Bearer ${t.service}\r\nContent-Type: application/json\r\n`),
      [chunk(JSON.stringify(body).slice(0, 20)), chunk(JSON.stringify(body).slice(20)), LAST_CHUNK]
    )
    expect(response.status).toBe(201)
    expect(JSON.parse(response.body).trial.ownerEmail).toBe(body.ownerEmail)
  })
})

describe("a body that is not UTF-8", () => {
  it("is a 400 saying so, not a name stored with replacement characters", async () => {
    const before = await counts()
    const valid = JSON.stringify(trialBody({ ownerName: "NAME" }))
    const [start, end] = valid.split("NAME") as [string, string]
    for (const bad of [[0xff, 0xfe], [0xc3], [0xed, 0xa0, 0x80]]) {
      const body = Buffer.concat([Buffer.from(start), Buffer.from(bad), Buffer.from(end)])
      const response = await exchange(
        `POST /api/trials HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${t.service}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
        [body]
      )
      expect(response.status).toBe(400)
      expect(json(response).error).toEqual({
        code: "invalid_request",
        message: "the body is not valid UTF-8"
      })
    }
    expect(await counts()).toEqual(before)
  })
})
