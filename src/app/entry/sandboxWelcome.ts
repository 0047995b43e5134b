// In sandbox, `bun start` prepares one trial to convert and prints how to watch it happen: the dashboard link
// with a ready owner token, and the command that converts the trial with a service token.
import { Effect, Layer } from "effect"
import { AssistantId } from "../../domain/ids.ts"
import { Repository } from "../../ports/Repository.ts"
import { signToken } from "../http/auth.ts"
import { AppConfig } from "../layers/AppConfig.ts"

export const sandboxWelcomeLayer = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const repo = yield* Repository
    // A fresh trial each start (the previous one may be converted already), all for the same owner.
    const trial = yield* repo.createTrial({
      ownerEmail: "owner@example.com",
      ownerName: "Sam Owner",
      businessName: "Golden Gate Dental",
      vapiAssistantId: AssistantId.make(`sandbox-assistant-${Date.now()}`),
      requestedAreaCode: "212"
    })
    const owner = yield* signToken(config.authSecret, { role: "owner", sub: trial.ownerId })
    const service = yield* signToken(config.authSecret, { role: "service" })
    const base = config.appUrl.replace(/\/+$/, "")
    yield* Effect.sync(() =>
      console.log(
        [
          "",
          "  Sandbox ready.",
          `  Dashboard:  ${base}/#token=${owner}`,
          `  Convert the trial "${trial.businessName}" (asks for 212: in sandbox 212 and its overlays 332, 646 and 917`,
          "  are sold out, so watch it search New York State and get a New York number):",
          `    curl -X POST ${base}/api/trials/${trial.id}/convert -H "Authorization: Bearer ${service}"`,
          ""
        ].join("\n")
      )
    )
  })
)
