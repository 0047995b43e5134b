// Sentry reporting against a local HTTP endpoint used as the DSN: the event arrives, tagged with the business
// and job ids, and carries no secret.
import { gunzipSync } from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as SentryErrorReporter from "../../src/adapters/errors/SentryErrorReporter.ts"
import { ErrorReporter } from "../../src/ports/ErrorReporter.ts"
import { TelephonyRejected } from "../../src/ports/Telephony.ts"

describe("Sentry ErrorReporter", () => {
  it.effect("sends the failure with business_id and job_id tags, and no secrets", () =>
    Effect.gen(function* () {
      const envelopes: Array<string> = []
      const server = yield* Effect.acquireRelease(
        Effect.sync(() =>
          Bun.serve({
            hostname: "127.0.0.1",
            port: 0,
            async fetch(request) {
              const raw = Buffer.from(await request.arrayBuffer())
              const body = request.headers.get("content-encoding") === "gzip" ? gunzipSync(raw) : raw
              envelopes.push(body.toString())
              return Response.json({ id: "1" })
            }
          })
        ),
        (s) => Effect.sync(() => s.stop(true))
      )
      const dsn = Redacted.make(`http://publickey@127.0.0.1:${server.port}/42`)
      yield* Effect.gen(function* () {
        const reporter = yield* ErrorReporter
        yield* reporter.report(
          Cause.fail(new TelephonyRejected({ message: "buy number: HTTP 401 (20003)" })),
          {
            operation: "AssignNumber",
            businessId: "biz-123",
            jobId: "job-9",
            authToken: "super-secret-token-value"
          }
        )
        yield* SentryErrorReporter.flush()
      }).pipe(Effect.provide(SentryErrorReporter.layer({ dsn, environment: "test" })))

      const sent = envelopes.join("\n")
      assert.include(sent, '"business_id":"biz-123"')
      assert.include(sent, '"job_id":"job-9"')
      assert.include(sent, "TelephonyRejected")
      assert.notInclude(sent, "super-secret-token-value")
    }).pipe(Effect.scoped, TestClock.withLive)
  )
})
