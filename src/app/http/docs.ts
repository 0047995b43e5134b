// `GET /docs`: the OpenAPI document as a browsable page (Swagger UI, served from the installed package: no CDN).
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { Elysia } from "elysia"

const swaggerUi = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"))

const page = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>numbers API</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script>window.ui = SwaggerUIBundle({ url: "/openapi", dom_id: "#swagger-ui" })</script>
  </body>
</html>
`

const asset = (file: string, type: string) => () =>
  new Response(Bun.file(join(swaggerUi, file)), {
    headers: { "content-type": `${type}; charset=utf-8`, "cache-control": "public, max-age=3600" }
  })

export const docsRoutes = () =>
  new Elysia({ name: "docs" })
    .get("/docs", () => new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } }))
    .get("/docs/swagger-ui-bundle.js", asset("swagger-ui-bundle.js", "text/javascript"))
    .get("/docs/swagger-ui.css", asset("swagger-ui.css", "text/css"))
