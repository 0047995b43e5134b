// `GET /openapi`: the API's OpenAPI 3.1 document. Request bodies are generated from the same Effect Schemas
// the handlers decode with, so the document cannot drift from the validation.
import { Schema } from "effect"
import { Elysia } from "elysia"
import { NewTrialInput } from "../Businesses.ts"
import { ServerMessage } from "../VapiEvents.ts"

const json = (schema: Schema.Top) => {
  const document = Schema.toJsonSchemaDocument(schema as never)
  return {
    ...document.schema,
    ...(Object.keys(document.definitions ?? {}).length ? { $defs: document.definitions } : {})
  }
}

const error = {
  description: "An error",
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } }
}
const bearer = [{ bearer: [] }]
const id = (name: string) => ({
  name,
  in: "path",
  required: true,
  schema: { type: "string", format: "uuid" }
})

export const openApiDocument = {
  openapi: "3.1.0",
  info: {
    title: "numbers",
    version: "1.0.0",
    description:
      "Phone numbers for converted trials. Ids of ours are UUIDs; a malformed one is answered as an unknown one (404)."
  },
  components: {
    securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT (HS256, AUTH_SECRET)" } },
    schemas: {
      Error: {
        type: "object",
        required: ["error"],
        properties: {
          error: { type: "object", properties: { code: { type: "string" }, message: { type: "string" } } }
        }
      }
    }
  },
  paths: {
    "/api/trials": {
      post: {
        summary: "Create a trial (service token)",
        security: bearer,
        requestBody: { required: true, content: { "application/json": { schema: json(NewTrialInput) } } },
        responses: {
          "201": { description: "{ trial }" },
          "400": error,
          "401": error,
          "403": error,
          "413": error
        }
      }
    },
    "/api/trials/{id}/convert": {
      post: {
        summary: "Convert a trial into a business; repeat calls answer the same business (service token)",
        security: bearer,
        parameters: [id("id")],
        responses: { "202": { description: "{ business }" }, "401": error, "403": error, "404": error }
      }
    },
    "/api/businesses": {
      get: {
        summary: "The owner's businesses (owner token)",
        security: bearer,
        responses: { "200": { description: "{ businesses }" }, "401": error }
      }
    },
    "/api/businesses/{id}": {
      get: {
        summary: "A business with its numberStatus and number (owner or service token)",
        security: bearer,
        parameters: [id("id")],
        responses: { "200": { description: "{ business }" }, "401": error, "404": error }
      }
    },
    "/api/businesses/{id}/calls": {
      get: {
        summary: "The business's recent calls (owner or service token)",
        security: bearer,
        parameters: [id("id")],
        responses: { "200": { description: "{ calls }" }, "401": error, "404": error }
      }
    },
    "/api/businesses/{id}/assign-number": {
      post: {
        summary:
          "Queue a failed assignment again, or re-point an assistant that is not connected (service token); 409 when assigned and connected",
        security: bearer,
        parameters: [id("id")],
        responses: {
          "202": { description: "{ business }" },
          "401": error,
          "403": error,
          "404": error,
          "409": error
        }
      }
    },
    "/webhooks/twilio/inbound": {
      post: {
        summary: "Twilio's voice webhook (X-Twilio-Signature); answers TwiML",
        parameters: [{ name: "business_id", in: "query", required: true, schema: { type: "string" } }],
        responses: { "200": { description: "TwiML", content: { "text/xml": {} } }, "403": error }
      }
    },
    "/webhooks/vapi": {
      post: {
        summary: "Vapi's server messages (X-Vapi-Secret)",
        parameters: [{ name: "business_id", in: "query", required: false, schema: { type: "string" } }],
        requestBody: { required: true, content: { "application/json": { schema: json(ServerMessage) } } },
        responses: {
          "200": { description: "{} or { assistantId } or { error }" },
          "400": error,
          "401": error
        }
      }
    },
    "/health": { get: { summary: "Liveness", responses: { "200": { description: "ok" } } } },
    "/ready": {
      get: {
        summary: "Readiness: database reachable, migrations applied",
        responses: { "200": { description: "ready" }, "503": { description: "not ready" } }
      }
    }
  }
}

export const openApiRoutes = () =>
  new Elysia({ name: "openapi" }).get("/openapi", () => Response.json(openApiDocument))
