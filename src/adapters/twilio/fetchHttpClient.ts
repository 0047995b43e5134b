// The transport twilio-node calls (its `httpClient` option): fetch with a hard timeout, instead of axios,
// which has hung under Bun. It also turns what the SDK cannot express into typed failures: a 429 with its
// Retry-After, and a request that never got an answer (timeout, reset, refused).

export class TwilioRateLimitedResponse extends Error {
  constructor(readonly retryAfterMillis: number) {
    super("Twilio answered 429 (too many requests)")
  }
}

export class TwilioNoAnswer extends Error {
  constructor(readonly reason: "timeout" | "network") {
    super(reason === "timeout" ? "Twilio did not answer in time" : "the connection to Twilio failed")
  }
}

interface SdkRequest {
  readonly method: string
  readonly uri: string
  readonly username?: string
  readonly password?: string
  readonly headers?: Record<string, string>
  readonly params?: object
  readonly data?: object
}

const toSearchParams = (values: object | undefined): URLSearchParams => {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(values ?? {})) {
    if (value === undefined || value === null) continue
    for (const item of Array.isArray(value) ? value : [value]) search.append(key, String(item))
  }
  return search
}

/** Retry-After is seconds (or an HTTP date); absent, a second is a polite guess. */
const retryAfterMillis = (header: string | null): number => {
  if (header === null) return 1_000
  const seconds = Number(header)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1_000)
  const at = Date.parse(header)
  return Number.isNaN(at) ? 1_000 : Math.max(0, at - Date.now())
}

export const makeFetchHttpClient = (options: { readonly timeoutMillis: number }) => ({
  request: async (request: SdkRequest) => {
    const url = new URL(request.uri)
    for (const [key, value] of toSearchParams(request.params)) url.searchParams.append(key, value)
    const headers = new Headers(request.headers)
    if (request.username !== undefined && request.password !== undefined) {
      headers.set("Authorization", `Basic ${btoa(`${request.username}:${request.password}`)}`)
    }
    const method = request.method.toUpperCase()
    let response: Response
    try {
      response = await fetch(url, {
        method,
        headers,
        body: method === "POST" || method === "PUT" ? toSearchParams(request.data) : null,
        redirect: "manual",
        signal: AbortSignal.timeout(options.timeoutMillis)
      })
    } catch (error) {
      throw new TwilioNoAnswer(
        error instanceof DOMException && error.name === "TimeoutError" ? "timeout" : "network"
      )
    }
    if (response.status === 429)
      throw new TwilioRateLimitedResponse(retryAfterMillis(response.headers.get("retry-after")))
    let body: string
    try {
      body = await response.text()
    } catch {
      throw new TwilioNoAnswer("network")
    }
    return { statusCode: response.status, body, headers: Object.fromEntries(response.headers) }
  }
})
