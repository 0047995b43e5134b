// The API through app.handle on in-memory layers: the contract in docs/ARCHITECTURE.md (shapes, tokens,
// status codes), as another program calling it would see it.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MemoryBroadcasterControl } from "../../../src/adapters/memory/MemoryBroadcaster.ts"
import { MemoryRepositoryControl } from "../../../src/adapters/memory/MemoryRepository.ts"
import { MemoryTelephonyControl } from "../../../src/adapters/memory/MemoryTelephony.ts"
import { type JsonObject, makeTestApp, trialBody } from "../../support/httpApp.ts"

let t: Awaited<ReturnType<typeof makeTestApp>>
beforeAll(async () => {
  t = await makeTestApp()
})
afterAll(() => t.close())

const newTrial = async (overrides: Record<string, unknown> = {}) => {
  const created = await t.call("POST", "/api/trials", { body: trialBody(overrides) })
  expect(created.status).toBe(201)
  return created.json.trial
}

describe("trials and conversion", () => {
  it("creates a trial (201) with the contract's shape, finding the owner by email", async () => {
    const body = trialBody({ requestedAreaCode: "212" })
    const first = await t.call("POST", "/api/trials", { body })
    expect(first.status).toBe(201)
    expect(first.json.trial).toMatchObject({
      ownerEmail: body.ownerEmail,
      businessName: body.businessName,
      vapiAssistantId: body.vapiAssistantId,
      requestedAreaCode: "212",
      status: "active",
      businessId: null
    })
    const again = await t.call("POST", "/api/trials", {
      body: { ...trialBody(), ownerEmail: body.ownerEmail }
    })
    expect(again.json.trial.ownerId).toBe(first.json.trial.ownerId)
    const noCode = await t.call("POST", "/api/trials", { body: trialBody({ requestedAreaCode: undefined }) })
    expect(noCode.json.trial.requestedAreaCode).toBeNull()
  })

  it("refuses bad input with a 400 naming the field, and creates nothing", async () => {
    const before = await t.run(MemoryRepositoryControl.use((r) => r.counts))
    const cases: Array<[unknown, string]> = [
      [trialBody({ requestedAreaCode: "911" }), "requestedAreaCode"],
      [trialBody({ requestedAreaCode: "41" }), "requestedAreaCode"],
      [trialBody({ ownerEmail: "not-an-email" }), "ownerEmail"],
      [trialBody({ businessName: "" }), "businessName"],
      [trialBody({ businessName: "\n" }), "businessName: must not be blank"],
      [trialBody({ ownerName: "   " }), "ownerName: must not be blank"],
      // Postgres's text cannot hold NUL: refused here, not answered as an outage by the database.
      [trialBody({ ownerName: "Sam\u0000Owner" }), "ownerName: must not hold control characters"],
      [trialBody({ businessName: "Golden\nGate" }), "businessName: must not hold control characters"],
      // A mailer would read a display name and another address out of these.
      [trialBody({ ownerEmail: 'x@y.z"<script>' }), "ownerEmail"],
      [trialBody({ ownerEmail: "a,b@example.com" }), "ownerEmail"],
      [trialBody({ ownerEmail: "sam@example.com>x" }), "ownerEmail"],
      [trialBody({ ownerName: "\u200B" }), "ownerName: must not be blank"],
      [trialBody({ businessName: "Dental \u202Eevil" }), "businessName: must not hold control characters"],
      [trialBody({ businessName: "Sam\ud800" }), "businessName: must not hold control characters"],
      [trialBody({ ownerEmail: "sam@example.com\u0000" }), "ownerEmail"],
      [{ ...trialBody(), vapiAssistantId: undefined }, "vapiAssistantId"]
    ]
    for (const [body, field] of cases) {
      const response = await t.call("POST", "/api/trials", { body })
      expect(response.status, JSON.stringify(body)).toBe(400)
      expect(response.json.error.code).toBe("invalid_request")
      expect(response.json.error.message).toContain(field)
    }
    expect((await t.call("POST", "/api/trials", { body: "{not json" })).status).toBe(400)
    expect((await t.call("POST", "/api/trials", { body: "[1,2]" })).status).toBe(400)
    const huge = await t.call("POST", "/api/trials", {
      body: JSON.stringify({ ...trialBody(), pad: "x".repeat(100_000) })
    })
    expect(huge.status).toBe(413)
    // No owner, trial or business was made on the way to any of those refusals.
    expect(await t.run(MemoryRepositoryControl.use((r) => r.counts))).toEqual(before)
    // And the same request made valid does create one: the count above would have seen it.
    expect((await t.call("POST", "/api/trials", { body: trialBody() })).status).toBe(201)
    const after = await t.run(MemoryRepositoryControl.use((r) => r.counts))
    expect([after.users, after.trials]).toEqual([before.users + 1, before.trials + 1])
  })

  it("converts once (202, the same business on every repeat) and the number arrives", async () => {
    const trial = await newTrial({ requestedAreaCode: "650" })
    const first = await t.call("POST", `/api/trials/${trial.id}/convert`)
    const second = await t.call("POST", `/api/trials/${trial.id}/convert`)
    expect([first.status, second.status]).toEqual([202, 202])
    expect(second.json.business.id).toBe(first.json.business.id)
    expect(first.json.business).toMatchObject({
      name: trial.businessName,
      trialId: trial.id,
      requestedAreaCode: "650"
    })
    const id = first.json.business.id
    await t.jobsDone()
    const business = (await t.call("GET", `/api/businesses/${id}`)).json.business
    expect(business.numberStatus).toBe("assigned")
    expect(business.phoneNumber).toMatchObject({ areaCode: "650" })
    expect(business.phoneNumber.e164).toMatch(/^\+1650\d{7}$/)
    // The owner was told, once, of that number.
    const told = (await t.run(MemoryBroadcasterControl.use((b) => b.published))).filter(
      (p) => p.businessId === id && p.event._tag === "number.assigned"
    )
    expect(told.map((p) => (p.event._tag === "number.assigned" ? p.event.phoneNumber : ""))).toEqual([
      business.phoneNumber.e164
    ])
    expect((await t.call("POST", "/api/trials/nope/convert")).status).toBe(404)
  })
})

describe("tokens and ownership", () => {
  it("401 for missing, malformed, expired or badly signed tokens; 403 for the wrong role", async () => {
    const trial = await newTrial()
    const path = `/api/trials/${trial.id}/convert`
    expect((await t.call("POST", path, { token: null })).status).toBe(401)
    expect((await t.call("POST", path, { token: "not.a.jwt" })).status).toBe(401)
    const expired = await t.sign({ role: "service" }, "-1s")
    expect((await t.call("POST", path, { token: expired })).json.error.message).toContain("expired")
    const forged = t.service.slice(0, -4) + (t.service.endsWith("AAAA") ? "BBBB" : "AAAA")
    expect((await t.call("POST", path, { token: forged })).status).toBe(401)
    const owner = await t.sign({ role: "owner", sub: trial.ownerId })
    const wrongRole = await t.call("POST", path, { token: owner })
    expect(wrongRole.status).toBe(403)
    expect(wrongRole.json.error.code).toBe("forbidden")
    expect((await t.call("GET", `/api/trials/${trial.id}`)).status).toBe(404)
  })

  it("an owner sees their own business; another owner's is 404, like one that does not exist", async () => {
    const trial = await newTrial()
    const business = (await t.call("POST", `/api/trials/${trial.id}/convert`)).json.business
    const mine = await t.sign({ role: "owner", sub: trial.ownerId })
    const theirs = await t.sign({ role: "owner", sub: crypto.randomUUID() })
    expect((await t.call("GET", `/api/businesses/${business.id}`, { token: mine })).status).toBe(200)
    const other = await t.call("GET", `/api/businesses/${business.id}`, { token: theirs })
    const missing = await t.call("GET", "/api/businesses/does-not-exist", { token: theirs })
    expect([other.status, missing.status]).toEqual([404, 404])
    expect(other.json).toEqual(missing.json)
    expect(
      (await t.call("GET", "/api/businesses", { token: mine })).json.businesses.map(
        (b: { id: string }) => b.id
      )
    ).toContain(business.id)
    expect((await t.call("GET", "/api/businesses", { token: theirs })).json.businesses).toEqual([])
  })
})

describe("re-enqueueing an assignment", () => {
  it("409 when assigned; 202 and back to pending when failed, then assigned", async () => {
    // No stock anywhere: the assignment fails with no_numbers_available.
    const empty = await makeTestApp({
      telephony: { defaultStock: 0 },
      settings: { stockChurnRetries: 0 }
    })
    try {
      const trial = (await empty.call("POST", "/api/trials", { body: trialBody() })).json.trial
      const business = (await empty.call("POST", `/api/trials/${trial.id}/convert`)).json.business
      const get = () => empty.call("GET", `/api/businesses/${business.id}`).then((r) => r.json.business)
      await empty.jobsDone()
      expect(await get()).toMatchObject({ numberStatus: "failed", failureReason: "no_numbers_available" })
      await empty.run(MemoryTelephonyControl.use((c) => c.setStock("415", 1)))
      const retried = await empty.call("POST", `/api/businesses/${business.id}/assign-number`)
      expect(retried.status).toBe(202)
      expect(retried.json.business.numberStatus).toBe("pending")
      await empty.jobsDone()
      expect(await get()).toMatchObject({ numberStatus: "assigned", failureReason: null })
      const again = await empty.call("POST", `/api/businesses/${business.id}/assign-number`)
      expect(again.status).toBe(409)
      expect(again.json.error.code).toBe("already_assigned")
      expect((await empty.call("POST", "/api/businesses/nope/assign-number")).status).toBe(404)
    } finally {
      await empty.close()
    }
  })
})

describe("the number's life over HTTP", () => {
  it("cancel (idempotent), 409s while cancelled or active, release now, reactivate to a new number", async () => {
    const trial = await newTrial()
    const id = (await t.call("POST", `/api/trials/${trial.id}/convert`)).json.business.id
    await t.jobsDone()
    const first = (await t.call("GET", `/api/businesses/${id}`)).json.business
    expect(first).toMatchObject({ status: "active", releaseAt: null, numberStatus: "assigned" })
    expect(first.phoneNumber.dateCreated).toEqual(expect.any(String))

    const active = await t.call("POST", `/api/businesses/${id}/release`)
    expect([active.status, active.json.error.code]).toEqual([409, "business_active"])
    const owner = await t.sign({ role: "owner", sub: trial.ownerId })
    expect((await t.call("POST", `/api/businesses/${id}/cancel`, { token: owner })).status).toBe(403)

    const cancelled = await t.call("POST", `/api/businesses/${id}/cancel`)
    expect(cancelled.status).toBe(202)
    expect(cancelled.json.business).toMatchObject({ status: "cancelled", phoneNumber: first.phoneNumber })
    // At least the 72 h grace away, and within about a month of it.
    const releaseAt = Date.parse(cancelled.json.business.releaseAt)
    expect(releaseAt - Date.now()).toBeGreaterThanOrEqual(72 * 3_600_000 - 60_000)
    expect(releaseAt - Date.now()).toBeLessThan((72 + 32 * 24) * 3_600_000)
    const repeat = await t.call("POST", `/api/businesses/${id}/cancel`)
    expect([repeat.status, repeat.json.business.releaseAt]).toEqual([202, cancelled.json.business.releaseAt])
    const retry = await t.call("POST", `/api/businesses/${id}/assign-number`)
    expect([retry.status, retry.json.error.code]).toEqual([409, "business_cancelled"])
    const listed = await t.call("GET", "/api/businesses?status=cancelled&limit=100")
    expect(listed.json.businesses.map((b: JsonObject) => b.id)).toContain(id)
    expect((await t.call("GET", "/api/businesses?status=gone")).status).toBe(400)

    const released = await t.call("POST", `/api/businesses/${id}/release`)
    expect(released.status).toBe(202)
    await t.jobsDone()
    const gone = (await t.call("GET", `/api/businesses/${id}`)).json.business
    expect(gone).toMatchObject({
      status: "cancelled",
      numberStatus: "released",
      phoneNumber: null,
      releaseAt: null
    })
    const owned = await t.run(MemoryTelephonyControl.use((c) => c.owned))
    expect(owned.map((n) => n.sid)).not.toContain(first.phoneNumber.twilioSid)
    // Releasing again has nothing left to do.
    expect((await t.call("POST", `/api/businesses/${id}/release`)).json.business.numberStatus).toBe(
      "released"
    )

    const back = await t.call("POST", `/api/businesses/${id}/reactivate`)
    expect(back.status).toBe(202)
    expect(back.json.business).toMatchObject({ status: "active", numberStatus: "pending", phoneNumber: null })
    await t.jobsDone()
    const renewed = (await t.call("GET", `/api/businesses/${id}`)).json.business
    expect(renewed.numberStatus).toBe("assigned")
    expect(renewed.phoneNumber.twilioSid).not.toBe(first.phoneNumber.twilioSid)
    const events = await t.run(MemoryBroadcasterControl.use((b) => b.published))
    expect(events.filter((e) => e.businessId === id).map((e) => e.event._tag)).toEqual([
      "number.assigned",
      "business.cancelled",
      "number.released",
      "business.reactivated",
      "number.assigned"
    ])
    for (const action of ["cancel", "reactivate", "release"]) {
      expect((await t.call("POST", `/api/businesses/not-an-id/${action}`)).status).toBe(404)
    }
  })
})

describe("the rest of the surface", () => {
  it("serves the dashboard page, the OpenAPI document, and JSON 404s", async () => {
    const page = await t.call("GET", "/", { token: null })
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toContain("text/html")
    const openapi = await t.call("GET", "/openapi", { token: null })
    expect(Object.keys(openapi.json.paths)).toEqual(
      expect.arrayContaining(["/api/trials", "/api/businesses/{id}", "/webhooks/vapi"])
    )
    expect(
      openapi.json.paths["/api/trials"].post.requestBody.content["application/json"].schema.required
    ).toEqual(expect.arrayContaining(["ownerEmail", "businessName", "vapiAssistantId"]))
    const missing = await t.call("GET", "/no/such/route")
    expect(missing.status).toBe(404)
    expect(missing.json.error.code).toBe("not_found")
  })
})

describe("listing businesses", () => {
  it("a page at a time, newest first: every business for an operator or a service, an owner's own for an owner", async () => {
    // 212 has no numbers and nothing to fall back to: a trial asking for it ends `failed`.
    const app = await makeTestApp({
      telephony: { inventory: { "212": 0 }, defaultStock: 5 },
      settings: { fallbackAreaCodes: [], stockChurnRetries: 0 }
    })
    try {
      const convert = async (overrides: Record<string, unknown> = {}) => {
        const trial = (await app.call("POST", "/api/trials", { body: trialBody(overrides) })).json.trial
        const { business } = (await app.call("POST", `/api/trials/${trial.id}/convert`)).json
        await app.jobsDone()
        return { trial, business }
      }
      const a = await convert({ ownerEmail: "a@example.com" })
      const b = await convert({ ownerEmail: "b@example.com" })
      const failed = await convert({ ownerEmail: "a@example.com", requestedAreaCode: "212" })
      const c = await convert({ ownerEmail: "c@example.com" })
      const newestFirst = [c, failed, b, a].map((x) => x.business.id)
      const operator = await app.sign({ role: "operator" })
      const owner = await app.sign({ role: "owner", sub: a.trial.ownerId })

      for (const token of [operator, app.service]) {
        const first = await app.call("GET", "/api/businesses?limit=3", { token })
        expect(first.status).toBe(200)
        expect(first.json.businesses.map((x: { id: string }) => x.id)).toEqual(newestFirst.slice(0, 3))
        expect(first.json.counts).toEqual({ pending: 0, assigned: 3, failed: 1, released: 0 })
        expect(first.json.nextCursor).toEqual(expect.any(String))
        const last = await app.call("GET", `/api/businesses?limit=3&cursor=${first.json.nextCursor}`, {
          token
        })
        expect(last.json.businesses.map((x: { id: string }) => x.id)).toEqual(newestFirst.slice(3))
        expect([last.json.nextCursor, last.json.counts]).toEqual([null, first.json.counts])
      }
      const everything = await app.call("GET", "/api/businesses", { token: operator })
      expect(everything.json.businesses.map((x: { id: string }) => x.id)).toEqual(newestFirst)
      const [shown] = everything.json.businesses
      expect(shown).toEqual((await app.call("GET", `/api/businesses/${c.business.id}`)).json.business)
      expect(shown.updatedAt >= shown.createdAt).toBe(true)

      // The failed ones, with their reason; counts over all of them still.
      const failing = await app.call("GET", "/api/businesses?numberStatus=failed", { token: operator })
      expect(
        failing.json.businesses.map((x: { id: string }) => [x.id, (x as JsonObject).failureReason])
      ).toEqual([[failed.business.id, "no_numbers_available"]])
      expect(failing.json.counts).toEqual({ pending: 0, assigned: 3, failed: 1, released: 0 })
      const connected = await app.call(
        "GET",
        "/api/businesses?assistantStatus=connected&numberStatus=assigned",
        {
          token: operator
        }
      )
      expect(connected.json.businesses).toHaveLength(3)
      expect(connected.json.counts).toEqual({ pending: 0, assigned: 3, failed: 0, released: 0 })

      // An owner: their own, counted alone.
      const mine = await app.call("GET", "/api/businesses?limit=1", { token: owner })
      expect(mine.json.businesses.map((x: { id: string }) => x.id)).toEqual([failed.business.id])
      expect(mine.json.counts).toEqual({ pending: 0, assigned: 1, failed: 1, released: 0 })
      const rest = await app.call("GET", `/api/businesses?limit=1&cursor=${mine.json.nextCursor}`, {
        token: owner
      })
      expect([rest.json.businesses.map((x: { id: string }) => x.id), rest.json.nextCursor]).toEqual([
        [a.business.id],
        null
      ])
    } finally {
      await app.close()
    }
  })

  it("holds 50 by default and at most 100", async () => {
    const app = await makeTestApp()
    try {
      for (let i = 0; i < 51; i++) {
        const trial = (await app.call("POST", "/api/trials", { body: trialBody() })).json.trial
        await app.call("POST", `/api/trials/${trial.id}/convert`)
      }
      const page = await app.call("GET", "/api/businesses")
      expect([page.json.businesses.length, typeof page.json.nextCursor]).toEqual([50, "string"])
      const next = await app.call("GET", `/api/businesses?cursor=${page.json.nextCursor}`)
      expect([next.json.businesses.length, next.json.nextCursor]).toEqual([1, null])
      const all = await app.call("GET", "/api/businesses?limit=100")
      expect([all.json.businesses.length, all.json.nextCursor]).toEqual([51, null])
    } finally {
      await app.close()
    }
  })

  it("refuses a bad filter, limit or cursor with a 400 naming it", async () => {
    const first = await t.call("GET", "/api/businesses?limit=1")
    const cursor: string = first.json.nextCursor ?? ""
    expect(cursor).not.toBe("")
    const tampered = Buffer.from(
      Buffer.from(cursor, "base64url").toString().replace(/^\d+/, "999999999999999"),
      "utf8"
    ).toString("base64url")
    const cases: Array<[string, string]> = [
      ["numberStatus=done", "numberStatus"],
      ["numberStatus=", "numberStatus"],
      ["assistantStatus=CONNECTED", "assistantStatus"],
      ["limit=0", "limit"],
      ["limit=101", "limit"],
      ["limit=ten", "limit"],
      ["limit=2.5", "limit"],
      ["limit=-1", "limit"],
      ["cursor=not-a-cursor", "cursor"],
      ["cursor=", "cursor"],
      [`cursor=${cursor}A`, "cursor"],
      [`cursor=${cursor.slice(0, -2)}`, "cursor"],
      [`cursor=${tampered}`, "cursor"],
      [`cursor=${Buffer.from(`1.${crypto.randomUUID()}.x`).toString("base64url")}`, "cursor"],
      [`cursor=${Buffer.from("1.not-a-uuid").toString("base64url")}`, "cursor"]
    ]
    const operator = await t.sign({ role: "operator" })
    const owner = await t.sign({ role: "owner", sub: crypto.randomUUID() })
    for (const [query, field] of cases) {
      for (const token of [operator, owner]) {
        const response = await t.call("GET", `/api/businesses?${query}`, { token })
        expect([query, response.status, response.json.error.code]).toEqual([query, 400, "invalid_request"])
        expect(response.json.error.message).toMatch(new RegExp(`^${field}: `))
      }
    }
    // A cursor of a well-formed instant and id that no business has is fine: it is only where to start.
    const elsewhere = Buffer.from(`1000.${crypto.randomUUID()}`).toString("base64url")
    const empty = await t.call("GET", `/api/businesses?cursor=${elsewhere}`, { token: operator })
    expect([empty.status, empty.json.businesses, empty.json.nextCursor]).toEqual([200, [], null])
    // Names it does not take are ignored, as everywhere.
    expect((await t.call("GET", "/api/businesses?status=cancelled&page=2", { token: operator })).status).toBe(
      200
    )
  })
})

describe("operator tokens", () => {
  it("may list, read and retry; not create or convert trials", async () => {
    const empty = await makeTestApp({ telephony: { defaultStock: 0 }, settings: { stockChurnRetries: 0 } })
    try {
      const operator = await empty.sign({ role: "operator" })
      const trial = (await empty.call("POST", "/api/trials", { body: trialBody() })).json.trial
      const business = (await empty.call("POST", `/api/trials/${trial.id}/convert`)).json.business
      await empty.jobsDone()
      for (const [method, path] of [
        ["POST", "/api/trials"],
        ["POST", `/api/trials/${trial.id}/convert`]
      ] as const) {
        const refused = await empty.call(method, path, { token: operator, body: trialBody() })
        expect([path, refused.status, refused.json.error.code]).toEqual([path, 403, "forbidden"])
      }
      const read = await empty.call("GET", `/api/businesses/${business.id}`, { token: operator })
      expect(read.json.business).toMatchObject({
        numberStatus: "failed",
        failureReason: "no_numbers_available"
      })
      expect(
        (await empty.call("GET", `/api/businesses/${business.id}/calls`, { token: operator })).status
      ).toBe(200)

      await empty.run(MemoryTelephonyControl.use((c) => c.setStock("415", 1)))
      const retried = await empty.call("POST", `/api/businesses/${business.id}/assign-number`, {
        token: operator
      })
      expect([retried.status, retried.json.business.numberStatus]).toEqual([202, "pending"])
      await empty.jobsDone()
      const assigned = (await empty.call("GET", `/api/businesses/${business.id}`, { token: operator })).json
        .business
      expect(assigned).toMatchObject({ numberStatus: "assigned", failureReason: null })
      expect(assigned.updatedAt > read.json.business.updatedAt).toBe(true)
      const again = await empty.call("POST", `/api/businesses/${business.id}/assign-number`, {
        token: operator
      })
      expect(again.status).toBe(409)
      // An owner still may not.
      const owner = await empty.sign({ role: "owner", sub: trial.ownerId })
      expect(
        (await empty.call("POST", `/api/businesses/${business.id}/assign-number`, { token: owner })).status
      ).toBe(403)
    } finally {
      await empty.close()
    }
  })
})
