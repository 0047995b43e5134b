// `GET /`: the dashboard: an owner's businesses, or, for an operator (or service) token, the operator's view
// (counts by status, what needs a person, a retry each). The page holds no data: it reads the token from the
// link's fragment (never sent to the server), keeps it in sessionStorage, and calls the API and /cable with it.
import { readFileSync } from "node:fs"
import { Elysia } from "elysia"

const page = readFileSync(new URL("./dashboard.html", import.meta.url), "utf8")

export const dashboardRoutes = () =>
  new Elysia({ name: "dashboard" }).get(
    "/",
    () =>
      new Response(page, {
        headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }
      })
  )
