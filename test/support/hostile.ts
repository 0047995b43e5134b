// What a hostile client puts where an id belongs, as raw URL text (already percent-encoded where needed, so a
// value reaches the server exactly as written): control bytes, invalid UTF-8, overlong, unicode, dot segments,
// empty, SQL and JSON metacharacters. None of them is an id of ours, so none needs a lookup to be refused.
export const HOSTILE_URL_VALUES: ReadonlyArray<string> = [
  ...Array.from({ length: 32 }, (_, byte) => `%${byte.toString(16).padStart(2, "0").toUpperCase()}`),
  "%7F",
  "abc%00def",
  "%C3%28",
  "%FF",
  "%E2%82",
  "%ED%A0%80",
  "x".repeat(10_240),
  "%F0%9F%93%9E%E2%80%AE",
  "..",
  "%2E%2E",
  "",
  "%20",
  "'%20OR%201%3D1%20--",
  "1;DROP%20TABLE%20businesses",
  "%22%7D%7B%22a%22:",
  "%5B%5D",
  "null",
  "-1",
  "9B2E0C54-4F3A-4E0A-9C2F-1D7B3C6A5E10%00",
  "9b2e0c54-4f3a-4e0a-9c2f-1d7b3c6a5e1",
  "%7B9b2e0c54-4f3a-4e0a-9c2f-1d7b3c6a5e10%7D"
]

/** Well-formed ids of no record: looked up, and answered as unknown. */
export const UNKNOWN_IDS: ReadonlyArray<string> = [
  "00000000-0000-0000-0000-000000000000",
  "9b2e0c54-4f3a-4e0a-9c2f-1d7b3c6a5e10"
]

/** The same values as they arrive in a JSON body or a socket frame (decoded where they decode). */
export const HOSTILE_JSON_VALUES: ReadonlyArray<unknown> = [
  ...HOSTILE_URL_VALUES.map((value) => {
    try {
      return decodeURIComponent(value)
    } catch {
      return value
    }
  }),
  "\ud800",
  7,
  null,
  { $ne: null },
  ["a"]
]
