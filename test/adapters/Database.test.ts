// The pools' span attributes name the database the URL points at: @effect/sql-pg takes them from its host, port
// and database options, not from the URL, so Database.ts reads those from the URL as the driver does.
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Redacted, Schema, Tracer } from "effect"
import { SqlClient } from "effect/sql"
import { vi } from "vitest"
import { DatabaseUrl, ReadSql, urlTarget } from "../../src/adapters/postgres/Database.ts"
import { testDatabase } from "../support/database.ts"

const target = (url: string) => urlTarget(Redacted.make(url))

describe("urlTarget", () => {
  it("reads the host, port and database of a URL, decoded", () => {
    assert.deepStrictEqual(target("postgres://app:s3cr%40t@db.internal:6543/numbers_prod"), {
      host: "db.internal",
      port: 6543,
      database: "numbers_prod"
    })
    assert.deepStrictEqual(target("postgresql://app@[::1]:5433/my%20db"), {
      host: "::1",
      port: 5433,
      database: "my db"
    })
  })

  it("lets the URL's parameters win, as the driver does, and takes the user for a missing database", () => {
    assert.deepStrictEqual(
      target("postgres://app@ignored/x?host=/var/run/postgresql&port=5999&dbname=real"),
      {
        host: "/var/run/postgresql",
        port: 5999,
        database: "real"
      }
    )
    assert.deepStrictEqual(target("postgres://reporting@db.internal"), {
      host: "db.internal",
      database: "reporting"
    })
    assert.deepStrictEqual(target("postgres://app@h/x?dbname=first&port=5000&dbname=last&port=5001"), {
      host: "h",
      port: 5001,
      database: "last"
    })
  })

  it("takes the process's user when the URL names none, as the driver does", () => {
    vi.stubEnv("USER", "ops")
    vi.stubEnv("USERNAME", "")
    try {
      assert.deepStrictEqual(target("postgres://db.internal"), { host: "db.internal", database: "ops" })
      assert.deepStrictEqual(target("postgres://db.internal?user=reporting"), {
        host: "db.internal",
        database: "reporting"
      })
      // A database it cannot decode is left to the driver, not taken to be the user's.
      assert.deepStrictEqual(target("postgres://db.internal/%E0%A4%A"), { host: "db.internal" })
      vi.stubEnv("USER", "")
      assert.deepStrictEqual(target("postgres://db.internal"), { host: "db.internal" })
    } finally {
      vi.unstubAllEnvs()
    }
  })

  it("takes nothing from a URL it cannot read, leaving the driver to refuse it", () => {
    assert.deepStrictEqual(target("not a url"), {})
    assert.deepStrictEqual(target("postgres://db.internal:5432/%E0%A4%A"), {
      host: "db.internal",
      port: 5432
    })
    assert.deepStrictEqual(target("postgres://db.internal/x?port=70000"), {
      host: "db.internal",
      database: "x"
    })
  })

  const Name = Schema.String.check(Schema.isPattern(/^[a-z][a-z0-9_]{0,30}$/))
  const Port = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65_535 }))
  it.effect.prop("gives back what a URL was built from", [Name, Port, Name], ([host, port, database]) =>
    Effect.sync(() =>
      assert.deepStrictEqual(target(`postgres://user@${host}:${port}/${database}`), { host, port, database })
    )
  )
})

/** A tracer that keeps the attributes of every span it makes, by span. */
const recording = () => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span(options) {
      const span = Tracer.nativeTracer.span(options)
      spans.push(span)
      return span
    }
  })
  return { tracer, spans }
}

layer(testDatabase(), { timeout: "60 seconds" })("the pools on Postgres", (it) => {
  it.effect("a statement's span names the server and the database of DATABASE_URL, on both pools", () =>
    Effect.gen(function* () {
      const server = urlTarget(yield* DatabaseUrl)
      const sql = yield* SqlClient.SqlClient
      const reads = yield* ReadSql
      const { tracer, spans } = recording()
      const [[main], [read]] = yield* Effect.all([
        sql<{ readonly name: string }>`SELECT current_database() AS name`,
        reads<{ readonly name: string }>`SELECT current_database() AS name`
      ]).pipe(Effect.withTracer(tracer))
      // A fresh database per suite: its name is nobody's default.
      assert.match(main?.name ?? "", /^numbers_test_/)
      assert.strictEqual(read?.name, main?.name)
      const statements = spans.filter((span) => span.attributes.has("db.query.text"))
      assert.strictEqual(statements.length, 2)
      for (const span of statements) {
        assert.strictEqual(span.attributes.get("db.namespace"), main?.name)
        assert.strictEqual(span.name, main?.name)
        // The server as the URL names it (urlTarget's reading of it is tested above; the database, here, is not).
        assert.strictEqual(span.attributes.get("server.address"), server.host ?? "localhost")
        assert.strictEqual(span.attributes.get("server.port"), server.port ?? 5432)
      }
    })
  )
})
