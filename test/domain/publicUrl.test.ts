import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { notPublicHost, publicHttpsUrlProblem } from "../../src/domain/publicUrl.ts"

const Octet = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 255 }))
const hex = (a: number, b: number) => ((a << 8) | b).toString(16)

describe("notPublicHost (by syntax, no DNS)", () => {
  it.effect("names why a loopback, private, link-local or local host cannot be reached", () =>
    Effect.sync(() => {
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["localhost", "a loopback host"],
        ["LOCALHOST.", "a loopback host"],
        ["api.localhost", "a loopback host"],
        ["127.0.0.1", "a loopback address"],
        ["127.255.0.9", "a loopback address"],
        ["2130706433", "a loopback address"], // 127.0.0.1 as one number
        ["0x7f.1", "a loopback address"],
        ["10.0.0.5", "a private address"],
        ["172.16.0.1", "a private address"],
        ["172.31.255.255", "a private address"],
        ["192.168.1.10", "a private address"],
        ["169.254.169.254", "a link-local address"],
        ["100.64.0.1", "a shared (carrier-grade NAT) address"],
        ["0.0.0.0", "an unspecified address"],
        ["0", "an unspecified address"],
        ["224.0.0.1", "a multicast address"],
        ["255.255.255.255", "a reserved address"],
        ["::1", "a loopback address"],
        ["[::1]", "a loopback address"],
        ["0:0:0:0:0:0:0:1", "a loopback address"],
        ["::", "an unspecified address"],
        ["fc00::1", "a private address"],
        ["fdab:cdef::1", "a private address"],
        ["fe80::1", "a link-local address"],
        ["febf::1", "a link-local address"],
        ["fec0::1", "a private address"],
        ["ff02::1", "a multicast address"],
        ["::ffff:127.0.0.1", "a loopback address"],
        ["[::ffff:7f00:1]", "a loopback address"],
        ["::ffff:10.1.2.3", "a private address"],
        ["::ffff:192.168.0.1", "a private address"],
        ["::127.0.0.1", "a loopback address"],
        ["printer.local", "a .local (mDNS) name"],
        ["numbers.LOCAL.", "a .local (mDNS) name"],
        ["api.internal", "a .internal (private-use) name"],
        ["router.home.arpa", "a .home.arpa (home network) name"],
        ["numbers", "a single-label name (not a public DNS name)"],
        ["", "not a host name"],
        ["exa mple.com", "not a host name"]
      ]
      for (const [host, reason] of cases) assert.strictEqual(notPublicHost(host), reason, host)
    })
  )

  it.effect("lets public names and addresses through", () =>
    Effect.sync(() => {
      for (const host of [
        "numbers.example.com",
        "numbers.example.test",
        "NUMBERS.Example.com.",
        "localhost.example.com",
        "local.example.com",
        "example.localhostx",
        "8.8.8.8",
        "172.15.255.255",
        "172.32.0.1",
        "192.169.0.1",
        "169.253.0.1",
        "100.128.0.1",
        "11.0.0.1",
        "2001:db8::1",
        "[2606:4700:4700::1111]",
        "::ffff:8.8.8.8",
        "fbff::1",
        "2600::1"
      ])
        assert.isUndefined(notPublicHost(host), host)
    })
  )

  it.effect.prop(
    "every 10/8, 172.16/12 and 192.168/16 address is private, IPv4-mapped too",
    [Octet, Octet, Octet, Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2 }))],
    ([b, c, d, block]) =>
      Effect.sync(() => {
        const [a1, b1] = block === 0 ? [10, b] : block === 1 ? [172, 16 + (b % 16)] : [192, 168]
        const v4 = `${a1}.${b1}.${c}.${d}`
        assert.strictEqual(notPublicHost(v4), "a private address", v4)
        assert.strictEqual(notPublicHost(`::ffff:${v4}`), "a private address", `::ffff:${v4}`)
        assert.strictEqual(notPublicHost(`::ffff:${hex(a1, b1)}:${hex(c, d)}`), "a private address", v4)
      })
  )

  it.effect.prop(
    "every 127/8 address is loopback, as IPv4 and IPv4-mapped IPv6",
    [Octet, Octet, Octet],
    ([b, c, d]) =>
      Effect.sync(() => {
        assert.strictEqual(notPublicHost(`127.${b}.${c}.${d}`), "a loopback address")
        assert.strictEqual(notPublicHost(`[::ffff:127.${b}.${c}.${d}]`), "a loopback address")
      })
  )
})

describe("publicHttpsUrlProblem", () => {
  it.effect("accepts a public https URL, with a port and a path prefix", () =>
    Effect.sync(() => {
      for (const url of [
        "https://numbers.example.com",
        "https://numbers.example.com/",
        "https://numbers.example.com:8443/prefix",
        "https://[2001:db8::1]/"
      ])
        assert.isUndefined(publicHttpsUrlProblem(url), url)
    })
  )

  it.effect("says what is wrong: the scheme first, then the host", () =>
    Effect.sync(() => {
      assert.strictEqual(
        publicHttpsUrlProblem("http://numbers.example.com"),
        "expected https://, got http://"
      )
      assert.strictEqual(publicHttpsUrlProblem("ftp://numbers.example.com"), "expected https://, got ftp://")
      assert.strictEqual(publicHttpsUrlProblem("http://localhost:3000"), "expected https://, got http://")
      assert.strictEqual(publicHttpsUrlProblem("not a url"), "expected an https:// URL")
      assert.strictEqual(publicHttpsUrlProblem("https://localhost:3000"), "localhost is a loopback host")
      assert.strictEqual(publicHttpsUrlProblem("https://127.0.0.1"), "127.0.0.1 is a loopback address")
      assert.strictEqual(publicHttpsUrlProblem("https://[::1]:3000/x"), "[::1] is a loopback address")
      assert.strictEqual(publicHttpsUrlProblem("https://192.168.1.2"), "192.168.1.2 is a private address")
      assert.strictEqual(
        publicHttpsUrlProblem("https://numbers.local"),
        "numbers.local is a .local (mDNS) name"
      )
    })
  )
})
