// Message-IDs for the owner's emails.

/** A Message-ID derived from the idempotency key: every attempt at one email carries the same one. */
export const messageIdFor = (idempotencyKey: string): string =>
  `<${idempotencyKey.replace(/[^A-Za-z0-9.-]/g, ".")}@numbers.invalid>`
