// Whether a URL can be reached from the public internet (Twilio calling a bought number's voice URL), judged by
// its syntax alone: the scheme and the host. No DNS lookup: a public name that resolves to a private address
// passes (that takes a resolver to see), a name or address that can only be local does not.

type Reason = string

/** Why an IPv4 address (four octets) is not public; undefined when it may be. */
const ipv4Reason = ([a = 0, b = 0]: ReadonlyArray<number>): Reason | undefined => {
  if (a === 0) return "an unspecified address" // 0.0.0.0/8, "this network"
  if (a === 127) return "a loopback address"
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return "a private address"
  if (a === 169 && b === 254) return "a link-local address"
  if (a === 100 && b >= 64 && b <= 127) return "a shared (carrier-grade NAT) address"
  if (a >= 224 && a <= 239) return "a multicast address"
  if (a >= 240) return "a reserved address"
  return undefined
}

const parseIpv4 = (host: string): ReadonlyArray<number> | undefined => {
  const parts = host.split(".")
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return undefined
  const octets = parts.map(Number)
  return octets.every((o) => o <= 255) ? octets : undefined
}

/** The eight 16-bit groups of an IPv6 address (with `::` and a dotted IPv4 tail); undefined if it is not one. */
const parseIpv6 = (host: string): ReadonlyArray<number> | undefined => {
  const halves = host.split("::")
  if (halves.length > 2) return undefined
  const groups = (text: string): Array<number> | undefined => {
    if (text === "") return []
    const out: Array<number> = []
    const parts = text.split(":")
    for (const [i, part] of parts.entries()) {
      if (i === parts.length - 1 && part.includes(".")) {
        const v4 = parseIpv4(part)
        if (!v4) return undefined
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0))
      } else if (/^[0-9a-f]{1,4}$/.test(part)) out.push(Number.parseInt(part, 16))
      else return undefined
    }
    return out
  }
  const head = groups(halves[0] ?? "")
  const tail = halves.length === 2 ? groups(halves[1] ?? "") : []
  if (!head || !tail) return undefined
  if (halves.length === 1) return head.length === 8 ? head : undefined
  const missing = 8 - head.length - tail.length
  return missing >= 1 ? [...head, ...Array<number>(missing).fill(0), ...tail] : undefined
}

const ipv6Reason = (g: ReadonlyArray<number>): Reason | undefined => {
  const [g0 = 0, , , , , g5 = 0, g6 = 0, g7 = 0] = g
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0)
  const embedded = [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff]
  if (zeroUpTo(7) && g7 === 0) return "an unspecified address"
  if (zeroUpTo(7) && g7 === 1) return "a loopback address"
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) addresses are their IPv4 address.
  if (zeroUpTo(5) && (g5 === 0xffff || g5 === 0)) return ipv4Reason(embedded)
  if ((g0 & 0xfe00) === 0xfc00) return "a private address" // fc00::/7, unique local
  if ((g0 & 0xffc0) === 0xfe80) return "a link-local address" // fe80::/10
  if ((g0 & 0xffc0) === 0xfec0) return "a private address" // fec0::/10, site-local (deprecated)
  if ((g0 & 0xff00) === 0xff00) return "a multicast address"
  return undefined
}

/** Normalises as a URL does (case, IPv4 written as one number or in hex, IPv6 forms); undefined if no host. */
const canonicalHost = (host: string): string | undefined => {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host
  if (bare === "") return undefined
  const hostname = URL.parse(`https://${bare.includes(":") ? `[${bare}]` : bare}/`)?.hostname
  return hostname ? hostname.replace(/\.$/, "") : undefined
}

/**
 * Why `host` (a URL's hostname) cannot be reached from the public internet, by its syntax: loopback, private,
 * link-local and other non-public IPv4 and IPv6 addresses (IPv4-mapped forms included), `localhost`, and
 * names under `.local`, `.internal`, `.home.arpa` or of a single label. Undefined when it may be public.
 */
export const notPublicHost = (host: string): Reason | undefined => {
  const name = canonicalHost(host)
  if (name === undefined || name === "") return "not a host name"
  if (name.startsWith("[")) {
    const groups = parseIpv6(name.slice(1, -1))
    return groups ? ipv6Reason(groups) : "not a host name"
  }
  const v4 = parseIpv4(name)
  if (v4) return ipv4Reason(v4)
  if (name === "localhost" || name.endsWith(".localhost")) return "a loopback host"
  if (name.endsWith(".local")) return "a .local (mDNS) name"
  if (name.endsWith(".internal")) return "a .internal (private-use) name"
  if (name.endsWith(".home.arpa")) return "a .home.arpa (home network) name"
  if (!name.includes(".")) return "a single-label name (not a public DNS name)"
  return undefined
}

/**
 * What keeps `url` from being an https URL the public internet can reach (`expected https://, got http://`,
 * `localhost is a loopback host`); undefined when nothing does.
 */
export const publicHttpsUrlProblem = (url: string): string | undefined => {
  const parsed = URL.parse(url)
  if (!parsed) return "expected an https:// URL"
  if (parsed.protocol !== "https:") return `expected https://, got ${parsed.protocol}//`
  const reason = notPublicHost(parsed.hostname)
  return reason === undefined ? undefined : `${parsed.hostname} is ${reason}`
}
