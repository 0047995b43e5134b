// A local Vapi (the two endpoints we use) answering in the shapes of vapi_openapi.json (`Assistant`, `Call`)
// and Vapi's NestJS error bodies (docs/PROVIDERS.md). `POST /call` with the provider bypass answers the TwiML
// that connects the Twilio call to Vapi.
export interface FakeVapi {
  readonly url: string
  readonly apiKey: string
  /** The variables that point the service's Vapi adapter here. */
  readonly env: Readonly<Record<string, string>>
  readonly assistants: Map<string, { server: unknown }>
  readonly calls: () => ReadonlyArray<Record<string, unknown>>
  readonly failNext: (status: number) => void
  readonly stop: () => void
}

const nestError = (statusCode: number, message: string, error: string) =>
  Response.json({ message, error, statusCode }, { status: statusCode })

export const startFakeVapi = (
  options: {
    readonly assistants?: ReadonlyArray<string>
    readonly acceptAll?: boolean
    readonly chaos?: number
  } = {}
): FakeVapi => {
  const apiKey = "fake-vapi-private-key"
  const assistants = new Map<string, { server: unknown }>(
    (options.assistants ?? []).map((id) => [id, { server: null }])
  )
  const calls: Array<Record<string, unknown>> = []
  const failures: Array<number> = []
  const orgId = "00000000-0000-4000-8000-00000000a0a0"
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url)
      if (request.headers.get("authorization") !== `Bearer ${apiKey}`) {
        return nestError(
          401,
          "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa.",
          "Unauthorized"
        )
      }
      const failure = failures.shift() ?? (options.chaos && Math.random() < options.chaos ? 503 : undefined)
      if (failure !== undefined) return nestError(failure, "Internal server error", "Internal Server Error")
      const body = (await request.json().catch(() => null)) as Record<string, unknown> | null
      const assistantPath = /^\/assistant\/([^/]+)$/.exec(url.pathname)
      if (request.method === "PATCH" && assistantPath?.[1]) {
        const id = decodeURIComponent(assistantPath[1])
        if (options.acceptAll && !assistants.has(id)) assistants.set(id, { server: null })
        const assistant = assistants.get(id)
        if (!assistant)
          return nestError(404, `Couldn't Find Assistant. \`assistantId\` ${id} Does Not Exist.`, "Not Found")
        if (body && "serverUrl" in body)
          return nestError(400, "property serverUrl should not exist", "Bad Request")
        assistant.server = body?.server ?? null
        return Response.json({
          id,
          orgId,
          name: "Receptionist",
          server: assistant.server,
          createdAt: "2026-11-01T10:00:00.000Z",
          updatedAt: new Date().toISOString()
        })
      }
      if (request.method === "POST" && url.pathname === "/call") {
        const assistantId = String(body?.assistantId ?? "")
        if (!assistants.has(assistantId)) {
          return nestError(
            400,
            `Couldn't Get Assistant. \`assistantId\` ${assistantId} Does Not Exist.`,
            "Bad Request"
          )
        }
        const id = `0000000${calls.length + 1}-0000-4000-8000-000000000000`.slice(-36)
        calls.push(body ?? {})
        return Response.json(
          {
            id,
            orgId,
            type: "inboundPhoneCall",
            status: "queued",
            assistantId,
            phoneCallProvider: "twilio",
            phoneCallProviderDetails: {
              twiml: `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/${id}/transport"/></Connect></Response>`
            },
            createdAt: new Date().toISOString()
          },
          { status: 201 }
        )
      }
      return nestError(404, `Cannot ${request.method} ${url.pathname}`, "Not Found")
    }
  })
  const url = `http://127.0.0.1:${server.port}`
  return {
    url,
    apiKey,
    env: { VAPI_API_KEY: apiKey, VAPI_API_URL: url },
    assistants,
    calls: () => [...calls],
    failNext: (status) => failures.push(status),
    stop: () => server.stop(true)
  }
}
