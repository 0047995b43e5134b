// A local Twilio (REST API v2010, IncomingPhoneNumbers and the local AvailablePhoneNumbers search) speaking the
// real wire format: form-encoded requests, snake_case JSON, Twilio's error bodies. The real adapter talks to it
// over HTTP; several worker processes can share it, so every purchase by any process is counted in one place.

/**
 * What the next request meets. `ambiguous` buys (or releases) the number and then answers 503; other requests
 * answer as usual. `hold-before` keeps a purchase waiting before it happens, `hold-after` makes the purchase and
 * then keeps its answer: a worker killed meanwhile dies before, or after, buying. `taken` answers a purchase
 * 21422, buying nothing: by PhoneNumber, someone else bought the number after a search listed it (it leaves
 * the listing).
 */
export type TwilioFault =
  | "none"
  | "429"
  | "500"
  | "ambiguous"
  | "slow"
  | "401"
  | "reset"
  | "hold-before"
  | "hold-after"
  | "taken"

/**
 * How the next purchase is held: before it happens, after it (its answer withheld), or `late`: it happens only
 * when the test calls `completeLatePurchases`, and its answer never comes (a request that timed out at the
 * client and completed at Twilio anyway).
 */
export type PurchaseHold = "before" | "after" | "late"

/**
 * How the next DELETE of a number fails, with a 503: `before` releasing it (the number stays, a retry releases
 * it), or `after` (it is released and the answer is lost: a retry meets 404/20404).
 */
export type DeleteFailure = "before" | "after"

export interface FakePurchase {
  readonly sid: string
  readonly e164: string
  readonly areaCode: string
  readonly friendlyName: string
  readonly voiceUrl: string
}

/**
 * The APP_URL of a service given this fake's (real-looking) credentials: the service refuses them without a
 * public https APP_URL. Requests still go to the service's local port; Twilio signatures are over this URL
 * (APP_URL + path + query, never the Host header), so a test signs a webhook with it.
 */
export const PUBLIC_APP_URL = "https://numbers.example.test"

export interface FakeTwilio {
  readonly url: string
  readonly accountSid: string
  readonly authToken: string
  /** The variables that point the service's Twilio adapter here, with the APP_URL its credentials need. */
  readonly env: Readonly<Record<string, string>>
  readonly purchases: () => ReadonlyArray<FakePurchase>
  readonly requests: () => ReadonlyArray<{
    readonly method: string
    readonly path: string
    readonly form: Record<string, string>
  }>
  readonly setStock: (areaCode: string, count: number) => void
  readonly injectFaults: (...faults: ReadonlyArray<TwilioFault>) => void
  /** The next purchase is held (see PurchaseHold); held answers wait until `stop`. */
  readonly holdNextPurchase: (when: PurchaseHold) => void
  /** Completes the purchases held `late`, now. */
  readonly completeLatePurchases: () => void
  /**
   * Resolves once `count` requests in all have been held (purchases: see `hold-before` and `hold-after`;
   * DELETEs: see `holdNextDelete`).
   */
  readonly held: (count: number) => Promise<void>
  /** The SID of every DELETE of a number received, in order: repeats and failed ones included. */
  readonly deletes: () => ReadonlyArray<string>
  /** The next DELETE of a number fails once with a 503 (see DeleteFailure; `before` unless told). */
  readonly failNextDelete: (when?: DeleteFailure) => void
  /**
   * The next DELETE of a number it has releases the number, then keeps its answer (as a purchase held `after`)
   * until `stop`: a worker killed meanwhile dies between Twilio's release and its own record of it.
   */
  readonly holdNextDelete: () => void
  readonly stop: () => void
}

/** Twilio's RFC 2822 timestamps (`date_created`): "Mon, 30 Nov 2026 05:00:00 +0000". */
const rfc2822 = (date: Date) => date.toUTCString().replace(/GMT$/, "+0000")

const twilioError = (status: number, code: number, message: string) =>
  Response.json(
    { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
    { status }
  )

export const startFakeTwilio = (
  options: {
    readonly stock?: Readonly<Record<string, number>>
    readonly defaultStock?: number
    readonly unknownAreaCodes?: ReadonlyArray<string>
    /** Numbers for sale per state (InRegion), listed by the search in this order, bought by PhoneNumber. */
    readonly regions?: Readonly<Record<string, ReadonlyArray<string>>>
    readonly slowMillis?: number
    /** Every purchase takes this long (a real purchase takes a few hundred milliseconds). */
    readonly purchaseMillis?: number
    /** Chaos: this share of requests (0-1) meets a random transient fault (429, 500, ambiguous, reset, slow). */
    readonly chaos?: number
  } = {}
): FakeTwilio => {
  const accountSid = `AC${"a1".repeat(16)}`
  const authToken = "fake-twilio-token"
  const stock = new Map(Object.entries(options.stock ?? {}))
  const sold = new Map<string, number>()
  const forSale = new Map(Object.entries(options.regions ?? {}).map(([region, list]) => [region, [...list]]))
  const owned = new Map<string, Record<string, unknown>>()
  const purchases: Array<FakePurchase> = []
  const requests: Array<{ method: string; path: string; form: Record<string, string> }> = []
  const faults: Array<TwilioFault> = []
  const purchaseHolds: Array<PurchaseHold> = []
  const latePurchases: Array<Record<string, string>> = []
  const deletes: Array<string> = []
  const deleteFailures: Array<DeleteFailure> = []
  let deleteHolds = 0
  let serial = 0
  // Held requests wait on this until the server stops; their clients are killed meanwhile.
  const { promise: released, resolve: release } = Promise.withResolvers<void>()
  let heldCount = 0
  const waiters: Array<() => void> = []
  const hold = () => {
    heldCount++
    for (const wake of waiters.splice(0)) wake()
    return released.then(() => twilioError(503, 20503, "Service Unavailable"))
  }
  const held = (count: number): Promise<void> =>
    heldCount >= count
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push(() => resolve(held(count))))
  const base = `/2010-04-01/Accounts/${accountSid}/IncomingPhoneNumbers`
  const search = `/2010-04-01/Accounts/${accountSid}/AvailablePhoneNumbers/US/Local.json`
  /** The SID in a number's path (`…/IncomingPhoneNumbers/{Sid}.json`), or "" for any other path. */
  const sidIn = (path: string) =>
    path.startsWith(`${base}/`) ? path.slice(base.length + 1).replace(/\.json$/, "") : ""

  const resource = (sid: string, e164: string, friendlyName: string, voiceUrl: string) => ({
    sid,
    account_sid: accountSid,
    phone_number: e164,
    friendly_name: friendlyName,
    voice_url: voiceUrl,
    voice_method: "POST",
    status: "in-use",
    capabilities: { voice: true, sms: true, mms: true, fax: false },
    date_created: rfc2822(new Date()),
    date_updated: rfc2822(new Date()),
    api_version: "2010-04-01",
    uri: `${base}/${sid}.json`
  })

  /** The next number in the area code, taken off the shelf, or Twilio's error answer. */
  const pickInCode = (areaCode: string): Response | { readonly areaCode: string; readonly e164: string } => {
    if (options.unknownAreaCodes?.includes(areaCode))
      return twilioError(400, 21451, `Invalid area code: ${areaCode}`)
    const left = stock.get(areaCode) ?? options.defaultStock ?? 0
    if (left <= 0) return twilioError(400, 21452, `No phone numbers found in area code ${areaCode}`)
    stock.set(areaCode, left - 1)
    const n = sold.get(areaCode) ?? 0
    sold.set(areaCode, n + 1)
    return { areaCode, e164: `+1${areaCode}555${String(1000 + n).padStart(4, "0")}` }
  }

  /** Takes the number off its state's listing; false when no state lists it (sold, or never for sale). */
  const unlist = (e164: string) => {
    const list = [...forSale.values()].find((numbers) => numbers.includes(e164))
    list?.splice(list.indexOf(e164), 1)
    return list !== undefined
  }

  /** A purchase by AreaCode or by PhoneNumber: the number bought, or Twilio's error answer. */
  const buy = (form: Record<string, string>): Response | Record<string, unknown> => {
    const picked =
      form.PhoneNumber === undefined
        ? pickInCode(form.AreaCode ?? "")
        : unlist(form.PhoneNumber)
          ? { areaCode: form.PhoneNumber.slice(2, 5), e164: form.PhoneNumber }
          : twilioError(400, 21422, `Phone number ${form.PhoneNumber} is not available`)
    if (picked instanceof Response) return picked
    const { areaCode, e164 } = picked
    const sid = `PN${(++serial).toString(16).padStart(32, "0")}`
    const number = resource(sid, e164, form.FriendlyName ?? e164, form.VoiceUrl ?? "")
    owned.set(sid, number)
    purchases.push({
      sid,
      e164,
      areaCode,
      friendlyName: form.FriendlyName ?? "",
      voiceUrl: form.VoiceUrl ?? ""
    })
    return number
  }

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    // Every answer names its request, as Twilio's do (the adapter records it on its span and log line).
    fetch: async (request) => {
      const response = await answer(request)
      response.headers.set("Twilio-Request-Id", `RQ${crypto.randomUUID().replaceAll("-", "")}`)
      return response
    }
  })

  async function answer(request: Request): Promise<Response> {
    const url = new URL(request.url)
    const form = Object.fromEntries(new URLSearchParams(request.method === "GET" ? "" : await request.text()))
    requests.push({ method: request.method, path: url.pathname, form })
    if (request.method === "DELETE" && sidIn(url.pathname) !== "") deletes.push(sidIn(url.pathname))
    if (request.headers.get("authorization") !== `Basic ${btoa(`${accountSid}:${authToken}`)}`) {
      return twilioError(401, 20003, "Authenticate")
    }
    const chaotic: ReadonlyArray<TwilioFault> = ["429", "500", "ambiguous", "reset", "slow"]
    const fault =
      faults.shift() ??
      (options.chaos && Math.random() < options.chaos
        ? chaotic[Math.floor(Math.random() * chaotic.length)]
        : undefined)
    // The connection breaks before an answer: the client sees a reset, not a status. (Erroring the body
    // without an Error object resets the socket just the same, without Bun printing a stack per reset.)
    if (fault === "reset") return new Response(new ReadableStream({ start: (c) => c.error(undefined) }))
    if (fault === "429") {
      return new Response(JSON.stringify({ code: 20429, message: "Too Many Requests", status: 429 }), {
        status: 429,
        headers: { "retry-after": "1", "content-type": "application/json" }
      })
    }
    if (fault === "500") return twilioError(500, 20500, "Internal Server Error")
    if (fault === "401") return twilioError(401, 20003, "Authenticate")
    if (fault === "slow") await Bun.sleep(options.slowMillis ?? 15_000)

    if (request.method === "POST" && url.pathname === `${base}.json`) {
      if (options.purchaseMillis) await Bun.sleep(options.purchaseMillis)
      const purchaseHold = purchaseHolds.shift()
      if (fault === "hold-before" || purchaseHold === "before") return hold()
      if (purchaseHold === "late") {
        latePurchases.push(form)
        return hold()
      }
      if (fault === "taken") {
        if (form.PhoneNumber !== undefined) unlist(form.PhoneNumber)
        return twilioError(400, 21422, "The requested phone number is no longer available")
      }
      const bought = buy(form)
      if (bought instanceof Response) return bought
      const number = bought
      // Bought, but the answer is lost: what a 5xx after the purchase looks like to the client.
      if (fault === "ambiguous") return twilioError(503, 20503, "Service Unavailable")
      if (fault === "hold-after" || purchaseHold === "after") return hold()
      return Response.json(number, { status: 201 })
    }
    if (request.method === "GET" && url.pathname === `${base}.json`) {
      const friendlyName = url.searchParams.get("FriendlyName")
      const pageSize = Number(url.searchParams.get("PageSize") ?? 50)
      const list = [...owned.values()].filter(
        (n) => friendlyName === null || n.friendly_name === friendlyName
      )
      return Response.json({
        incoming_phone_numbers: list.slice(0, pageSize),
        page: 0,
        page_size: pageSize,
        start: 0,
        end: Math.max(0, Math.min(list.length, pageSize) - 1),
        first_page_uri: `${base}.json?PageSize=${pageSize}&Page=0`,
        next_page_uri: null,
        previous_page_uri: null,
        uri: `${url.pathname}${url.search}`
      })
    }
    if (request.method === "GET" && url.pathname === search) {
      const region = url.searchParams.get("InRegion") ?? ""
      const pageSize = Number(url.searchParams.get("PageSize") ?? 50)
      return Response.json({
        available_phone_numbers: (forSale.get(region) ?? []).slice(0, pageSize).map((e164) => ({
          friendly_name: `(${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8)}`,
          phone_number: e164,
          lata: null,
          locality: null,
          rate_center: null,
          latitude: null,
          longitude: null,
          region,
          postal_code: null,
          iso_country: "US",
          address_requirements: "none",
          beta: false,
          capabilities: { voice: true, sms: true, mms: true }
        })),
        uri: `${url.pathname}${url.search}`
      })
    }
    const sid = sidIn(url.pathname)
    // A failed DELETE is one Twilio may or may not have carried out: it fails whether the number is there or not.
    // An `ambiguous` DELETE is one whose answer is lost after the release, as for a purchase.
    const deleteFailure =
      request.method === "DELETE" && sid !== ""
        ? (deleteFailures.shift() ?? (fault === "ambiguous" ? "after" : undefined))
        : undefined
    if (deleteFailure === "after") owned.delete(sid)
    if (deleteFailure) return twilioError(503, 20503, "Service Unavailable")
    const number = owned.get(sid)
    // Released, or never this account's: Twilio cannot tell them apart either.
    if (!number) return twilioError(404, 20404, `The requested resource ${url.pathname} was not found`)
    if (request.method === "POST") {
      if (form.VoiceUrl !== undefined) number.voice_url = form.VoiceUrl
      return Response.json(number)
    }
    if (request.method === "DELETE") {
      owned.delete(sid)
      if (deleteHolds > 0) {
        deleteHolds--
        return hold()
      }
      return new Response(null, { status: 204 })
    }
    return Response.json(number)
  }

  const url = `http://127.0.0.1:${server.port}`
  return {
    url,
    accountSid,
    authToken,
    env: {
      TWILIO_ACCOUNT_SID: accountSid,
      TWILIO_AUTH_TOKEN: authToken,
      TWILIO_API_URL: url,
      APP_URL: PUBLIC_APP_URL
    },
    purchases: () => [...purchases],
    requests: () => [...requests],
    setStock: (areaCode, count) => stock.set(areaCode, count),
    injectFaults: (...more) => faults.push(...more),
    held,
    holdNextPurchase: (when) => purchaseHolds.push(when),
    deletes: () => [...deletes],
    failNextDelete: (when = "before") => deleteFailures.push(when),
    holdNextDelete: () => {
      deleteHolds++
    },
    completeLatePurchases: () => {
      for (const form of latePurchases.splice(0)) buy(form)
    },
    stop: () => {
      release()
      server.stop(true)
    }
  }
}
