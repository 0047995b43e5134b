// Debian's Chromium, headless, for the tests that look at pages as a person would (no browser downloads here).
import { chromium, type Page } from "playwright-core"

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"

export const launchChromium = () =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })

/** A frame of the page's /cable sockets, parsed. */
export type CableFrame = Record<string, unknown>

/** One /cable socket the page opened: the frames it sent and received, in order. */
export interface CableSocket {
  readonly sent: Array<CableFrame>
  readonly received: Array<CableFrame>
}

/**
 * Every /cable socket the page opens, in order, with its frames (from Chromium's network log: nothing in the page
 * is changed). Call before navigating. A socket that never connected is listed too, with no frame.
 */
export const recordCable = (page: Page): ReadonlyArray<CableSocket> => {
  const sockets: Array<CableSocket> = []
  page.on("websocket", (ws) => {
    if (new URL(ws.url()).pathname !== "/cable") return
    const socket: CableSocket = { sent: [], received: [] }
    sockets.push(socket)
    ws.on("framesent", ({ payload }) => socket.sent.push(JSON.parse(String(payload))))
    ws.on("framereceived", ({ payload }) => socket.received.push(JSON.parse(String(payload))))
  })
  return sockets
}
