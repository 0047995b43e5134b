// `GET /openapi`: the API's OpenAPI 3.1 document, generated from the route declarations: the Schemas that decode
// requests and encode answers, the auth that guards each route, and the errors it can answer (respond.ts).
import { STATUS_CODES } from "node:http"
import { JsonSchema, SchemaRepresentation } from "effect"
import { Elysia } from "elysia"
import { ErrorBody, errorAnswers } from "./respond.ts"
import { type Codec, errorTags, NoInput, type Route } from "./route.ts"

type Json = JsonSchema.JsonSchema

/** `numbers/BusinessEncoded` (a Schema.Class's wire form) is documented as `Business`. */
const referencePolicy: SchemaRepresentation.ReferencePolicy = ({ identifier }) =>
  identifier?.replace(/^numbers\//, "").replace(/Encoded$/, "")

/**
 * JSON Schemas of the wire forms, sharing definitions. Inputs stay open as their decoders are (extra fields are
 * ignored); answers are closed: they hold what their Schema says and nothing else.
 */
const compile = (schemas: ReadonlyArray<Codec>, onExcessProperty: "ignore" | "error") => {
  const [first, ...rest] = schemas.map((schema) => schema.ast)
  if (!first) return { schemas: [], definitions: {} }
  const document = SchemaRepresentation.toRepresentations([first, ...rest], { referencePolicy })
  return JsonSchema.toMultiDocumentOpenApi3_1(
    SchemaRepresentation.toJsonSchemaMultiDocument(document, { onExcessProperty })
  )
}

/** `/api/trials/:id/convert` → `/api/trials/{id}/convert` */
const template = (path: string) => path.replace(/:(\w+)/g, "{$1}")

const parametersOf = (schema: Json | undefined, where: "path" | "query") => {
  const required = (schema?.required ?? []) as ReadonlyArray<string>
  return Object.entries((schema?.properties ?? {}) as Record<string, Json>).map(([name, property]) => ({
    name,
    in: where,
    required: where === "path" || required.includes(name),
    schema: property
  }))
}

const operation = (
  route: Route<unknown>,
  [params, query, body]: ReadonlyArray<Json | undefined>,
  answer: Json | undefined,
  error: Json | undefined
) => {
  const { status, as = "application/json" } = route.answer
  const parameters = [
    ...(route.params ? parametersOf(params, "path") : []),
    ...(route.query ? parametersOf(query, "query") : [])
  ]
  const errors = Map.groupBy(errorTags(route), (tag) => errorAnswers[tag].status)
  return {
    summary: route.summary,
    ...(route.auth.scheme ? { security: [{ [route.auth.scheme.name]: [] }] } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(route.body
      ? { requestBody: { required: true, content: { [route.body.as]: { schema: body } } } }
      : {}),
    responses: Object.fromEntries([
      ...(typeof status === "number" ? [status] : status.among).map((code) => [
        String(code),
        { description: STATUS_CODES[code] ?? "", content: { [as]: { schema: answer } } }
      ]),
      ...[...errors].map(([code, tags]) => [
        String(code),
        {
          description: [...new Set(tags.map((tag) => errorAnswers[tag].code))].join(", "),
          content: { "application/json": { schema: error } }
        }
      ])
    ])
  }
}

export const openApiDocument = (routes: ReadonlyArray<Route<unknown>>) => {
  // Three inputs a route (path, query, body; an empty one where it has none), then the answers.
  const inputs = compile(
    routes.flatMap((r) => [r.params?.schema ?? NoInput, r.query ?? NoInput, r.body?.schema ?? NoInput]),
    "ignore"
  )
  const outputs = compile([ErrorBody, ...routes.map((r) => r.answer.schema)], "error")
  const [error, ...answers] = outputs.schemas
  const paths = Map.groupBy(routes.entries(), ([, route]) => template(route.path))
  const schemes = routes.flatMap((r) => (r.auth.scheme ? [r.auth.scheme] : []))
  return {
    openapi: "3.1.0",
    info: {
      title: "numbers",
      version: "1.0.0",
      description:
        "Phone numbers for converted trials. Ids of ours are UUIDs; a malformed one is answered as an unknown one (404)."
    },
    components: {
      securitySchemes: Object.fromEntries(schemes.map((s) => [s.name, s.definition])),
      schemas: definitionsOf(inputs.definitions, outputs.definitions)
    },
    paths: Object.fromEntries(
      [...paths].map(([path, entries]) => [
        path,
        Object.fromEntries(
          entries.map(([index, route]) => [
            route.method.toLowerCase(),
            operation(route, inputs.schemas.slice(index * 3, index * 3 + 3), answers[index], error)
          ])
        )
      ])
    )
  }
}

/** Inputs and answers share one table of named Schemas: a name means one thing. */
const definitionsOf = (...tables: ReadonlyArray<Record<string, Json>>) => {
  const all: Record<string, Json> = {}
  for (const [name, schema] of tables.flatMap(Object.entries)) {
    if (name in all && JSON.stringify(all[name]) !== JSON.stringify(schema)) {
      throw new Error(`two different Schemas are named ${name} in the OpenAPI document`)
    }
    all[name] = schema
  }
  return all
}

export const openApiRoutes = (document: ReturnType<typeof openApiDocument>) =>
  new Elysia({ name: "openapi" }).get("/openapi", () => Response.json(document))
