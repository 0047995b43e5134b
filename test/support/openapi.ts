// Checks recorded HTTP interactions against an OpenAPI 3 document: the path and method exist, query and form
// fields are the operation's parameters, and JSON bodies only use properties the schemas define. Our own
// answers are held to more: each status and media type is documented, and the body is what its schema says.
import { Schema as EffectSchema, JsonSchema, Result, SchemaRepresentation } from "effect"

export interface OpenApi {
  readonly paths: Record<string, Record<string, Operation>>
  readonly components: { readonly schemas: Record<string, Schema> }
}
interface Operation {
  readonly parameters?: ReadonlyArray<{ readonly name: string; readonly in: string }>
  readonly requestBody?: { readonly content: Record<string, { readonly schema: Schema }> }
  readonly responses?: Record<string, { readonly content?: Record<string, { readonly schema: Schema }> }>
}
interface Schema {
  readonly $ref?: string
  readonly allOf?: ReadonlyArray<Schema>
  readonly oneOf?: ReadonlyArray<Schema>
  readonly anyOf?: ReadonlyArray<Schema>
  readonly type?: string | ReadonlyArray<string>
  readonly properties?: Record<string, Schema>
  readonly additionalProperties?: boolean | Schema
  readonly items?: Schema
  readonly enum?: ReadonlyArray<unknown>
}

export interface Interaction {
  readonly method: string
  readonly url: string
  readonly contentType: string
  readonly body: unknown
  readonly status: number
  readonly response: unknown
}

const resolve = (spec: OpenApi, schema: Schema): Schema =>
  schema.$ref ? resolve(spec, spec.components.schemas[schema.$ref.split("/").pop() ?? ""] ?? {}) : schema

/** Names of fields `value` uses that `schema` does not define (with their paths). */
export const unknownFields = (spec: OpenApi, schema: Schema, value: unknown, at = ""): Array<string> => {
  const s = resolve(spec, schema)
  if (s.oneOf || s.anyOf) {
    const tries = (s.oneOf ?? s.anyOf ?? []).map((variant) => unknownFields(spec, variant, value, at))
    return tries.find((errors) => errors.length === 0) ?? tries.sort((a, b) => a.length - b.length)[0] ?? []
  }
  if (Array.isArray(value))
    return value.flatMap((item, i) => (s.items ? unknownFields(spec, s.items, item, `${at}[${i}]`) : []))
  if (value === null || typeof value !== "object") {
    return s.enum && !s.enum.includes(value) ? [`${at} (${JSON.stringify(value)} not in enum)`] : []
  }
  const properties: Record<string, Schema> = Object.assign(
    {},
    ...(s.allOf ?? []).map((part) => resolve(spec, part).properties ?? {}),
    s.properties ?? {}
  )
  if (Object.keys(properties).length === 0 && s.additionalProperties !== false) return []
  return Object.entries(value).flatMap(([key, child]) => {
    const fieldSchema = properties[key]
    if (fieldSchema) return unknownFields(spec, fieldSchema, child, `${at}.${key}`)
    return s.additionalProperties ? [] : [`${at}.${key}`]
  })
}

const templateMatches = (template: string, path: string) =>
  new RegExp(`^${template.replace(/[.]/g, "\\.").replace(/\{[^}]+\}/g, "[^/]+")}$`).test(path)

/** The operation a request reaches, or why none does. */
export const operationOf = (spec: OpenApi, method: string, pathAndQuery: string) => {
  const url = new URL(pathAndQuery, "http://spec.invalid")
  const template = Object.keys(spec.paths).find((t) => templateMatches(t, url.pathname))
  if (!template) return `no path ${url.pathname} in the spec`
  const operation = spec.paths[template]?.[method.toLowerCase()]
  if (!operation) return `no ${method} ${template} in the spec`
  return { url, template, operation }
}

/** Problems with one interaction against the spec; `allowed` lists fields known to be missing from it. */
export const conformance = (
  spec: OpenApi,
  interaction: Interaction,
  allowed: ReadonlyArray<string> = []
): Array<string> => {
  const found = operationOf(spec, interaction.method, interaction.url)
  if (typeof found === "string") return [found]
  const { url, operation } = found
  const problems: Array<string> = []
  const queryNames = new Set((operation.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name))
  for (const name of url.searchParams.keys())
    if (!queryNames.has(name)) problems.push(`query parameter ${name}`)
  const requestSchema = operation.requestBody?.content[interaction.contentType]?.schema
  if (interaction.body !== undefined && interaction.body !== "") {
    if (!requestSchema) problems.push(`a ${interaction.contentType} body the operation does not take`)
    else {
      const body =
        interaction.contentType === "application/x-www-form-urlencoded"
          ? Object.fromEntries(new URLSearchParams(String(interaction.body)))
          : interaction.body
      problems.push(...unknownFields(spec, requestSchema, body).filter((field) => !allowed.includes(field)))
    }
  }
  const responseSchema =
    operation.responses?.[String(interaction.status)]?.content?.["application/json"]?.schema
  if (responseSchema && interaction.status < 300) {
    problems.push(
      ...unknownFields(spec, responseSchema, interaction.response)
        .map((f) => `response ${f}`)
        .filter((field) => !allowed.includes(field))
    )
  }
  return problems
}

export interface Answer {
  readonly method: string
  readonly url: string
  readonly status: number
  /** The Content-Type header as sent. */
  readonly contentType: string
  readonly body: string
}

const draft = (schema: Schema) => JsonSchema.fromSchemaOpenApi3_1(schema as JsonSchema.JsonSchema).schema

/**
 * Problems with one of our answers: its status and media type are documented for the operation, and its body
 * decodes with the documented schema read back as an Effect Schema (types, enums, required fields, patterns;
 * a closed object holds nothing else).
 */
export const answerProblems = (spec: OpenApi, answer: Answer): Array<string> => {
  const found = operationOf(spec, answer.method, answer.url)
  if (typeof found === "string") return [found]
  const at = `${answer.method} ${found.template} ${answer.status}`
  const response = found.operation.responses?.[String(answer.status)]
  if (!response) return [`${at}: the status is not documented`]
  const mediaType = answer.contentType.split(";")[0]?.trim() ?? ""
  const schema = response.content?.[mediaType]?.schema
  if (!schema) return [`${at}: no ${mediaType || "body"} answer is documented`]
  const value =
    mediaType === "application/json" ? Result.try(() => JSON.parse(answer.body)) : Result.succeed(answer.body)
  if (Result.isFailure(value)) return [`${at}: the body is not JSON`]
  const validator = SchemaRepresentation.fromJsonSchemaDocument(
    {
      dialect: "draft-2020-12",
      schema: draft(schema),
      definitions: Object.fromEntries(Object.entries(spec.components.schemas).map(([n, s]) => [n, draft(s)]))
    },
    { patterns: "apply" }
    // Read from plain JSON Schema: a Schema without services.
  ) as EffectSchema.Codec<unknown>
  const decoded = EffectSchema.decodeUnknownResult(validator)(value.success, { onExcessProperty: "error" })
  return Result.isFailure(decoded) ? [`${at}: ${decoded.failure.message.replaceAll("\n", " ")}`] : []
}
