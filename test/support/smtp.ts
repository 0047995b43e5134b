// A real SMTP server on loopback (smtp-server) that keeps what it receives, parsed back with mailparser.
import { type ParsedMail, simpleParser } from "mailparser"
import { SMTPServer } from "smtp-server"

export interface LocalSmtp {
  readonly url: string
  readonly port: number
  readonly received: () => Array<ParsedMail>
  /** Recipients refused with 550 (a bad mailbox). */
  readonly refuse: (address: string) => void
  readonly stop: () => Promise<void>
}

/** `port` lets a test stop the server and start it again where clients expect it; `received` carries over. */
export const startSmtp = async (
  options: { readonly port?: number; readonly received?: Array<ParsedMail> } = {}
): Promise<LocalSmtp> => {
  const received: Array<ParsedMail> = options.received ?? []
  const refused = new Set<string>()
  const server = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onAuth: (auth, _session, callback) =>
      auth.username === "numbers" && auth.password === "smtp-test-password"
        ? callback(null, { user: auth.username })
        : callback(new Error("Invalid username or password")),
    onRcptTo: (address, _session, callback) => {
      if (refused.has(address.address)) {
        const error = Object.assign(new Error("Mailbox unavailable"), { responseCode: 550 })
        return callback(error)
      }
      callback()
    },
    // Like a real server: acknowledge once the message is received, then look at it.
    onData: (stream, _session, callback) => {
      const chunks: Array<Buffer> = []
      stream.on("data", (chunk: Buffer) => chunks.push(chunk))
      stream.on("end", () => {
        callback()
        simpleParser(Buffer.concat(chunks)).then((mail) => received.push(mail))
      })
    }
  })
  // Clients that die mid-session (killed workers) reset their connections: that is their business, not an error here.
  server.on("error", () => {})
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve))
  const address = server.server.address()
  const port = typeof address === "object" && address ? address.port : 0
  return {
    url: `smtp://numbers:smtp-test-password@127.0.0.1:${port}`,
    port,
    received: () => received,
    refuse: (address) => refused.add(address),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
