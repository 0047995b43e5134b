// `bun start` in sandbox mode as a newcomer meets it: the trial it prints, converted with the curl it prints,
// and the business followed until it settles.
import { eventually, type ServiceProcess } from "./processes.ts"

export interface PrintedTrial {
  readonly base: string
  readonly trialId: string
  readonly serviceToken: string
}

const CURL = /curl -X POST (\S+)\/api\/trials\/(\S+)\/convert -H "Authorization: Bearer (\S+)"/

/** The trial a sandbox start printed (waits for the welcome, bounded). */
export const printedTrial = async (
  service: ServiceProcess,
  timeoutMillis = 60_000
): Promise<PrintedTrial> => {
  let found: PrintedTrial | undefined
  await eventually(
    async () => {
      const match = CURL.exec(service.output())
      if (match?.[1] && match[2] && match[3])
        found = { base: match[1], trialId: match[2], serviceToken: match[3] }
      return found !== undefined
    },
    "the sandbox welcome with its curl line",
    timeoutMillis
  )
  if (!found) throw new Error(`no curl line in the output:\n${service.output()}`)
  return found
}

export interface SettledBusiness {
  readonly id: string
  readonly numberStatus: string
  readonly phoneNumber: { readonly e164: string } | null
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Converts a trial as the printed curl does, and waits until its business is no longer pending. */
export const convertAndSettle = async (
  base: string,
  trialId: string,
  serviceToken: string,
  timeoutMillis = 60_000
): Promise<SettledBusiness> => {
  const converted = await fetch(`${base}/api/trials/${trialId}/convert`, {
    method: "POST",
    headers: bearer(serviceToken)
  })
  if (converted.status !== 202)
    throw new Error(`convert answered ${converted.status}: ${await converted.text()}`)
  const { business } = (await converted.json()) as { business: SettledBusiness }
  let settled: SettledBusiness = business
  await eventually(
    async () => {
      const response = await fetch(`${base}/api/businesses/${business.id}`, { headers: bearer(serviceToken) })
      settled = ((await response.json()) as { business: SettledBusiness }).business
      return settled.numberStatus !== "pending"
    },
    `business ${business.id} to settle`,
    timeoutMillis
  )
  return settled
}
