// Versioned schema migrations, applied at startup by every process; an advisory lock makes them run once.
import { Effect } from "effect"
import { Migrator, SqlClient } from "effect/sql"

const initial = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Ids are text (UUIDs by default) so a malformed id from a request is simply not found, never a SQL error.
  yield* sql`
    CREATE TABLE users (
      id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
      email text NOT NULL UNIQUE,
      name text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`
    CREATE TABLE trials (
      id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
      owner_id text NOT NULL REFERENCES users (id),
      business_name text NOT NULL,
      vapi_assistant_id text NOT NULL,
      requested_area_code text,
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'converted')),
      business_id text,
      created_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX trials_vapi_assistant_id ON trials (vapi_assistant_id)`
  yield* sql`
    CREATE TABLE businesses (
      id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
      owner_id text NOT NULL REFERENCES users (id),
      name text NOT NULL,
      vapi_assistant_id text NOT NULL,
      requested_area_code text,
      trial_id text NOT NULL UNIQUE REFERENCES trials (id),
      number_status text NOT NULL DEFAULT 'pending' CHECK (number_status IN ('pending', 'assigned', 'failed')),
      failure_reason text,
      created_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX businesses_vapi_assistant_id ON businesses (vapi_assistant_id)`
  yield* sql`CREATE INDEX businesses_owner_id ON businesses (owner_id)`
  yield* sql`
    CREATE TABLE phone_numbers (
      id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
      business_id text NOT NULL UNIQUE REFERENCES businesses (id),
      e164 text NOT NULL UNIQUE,
      area_code text,
      twilio_sid text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`
    CREATE TABLE calls (
      vapi_call_id text PRIMARY KEY,
      callable_kind text NOT NULL CHECK (callable_kind IN ('business', 'trial')),
      callable_id text NOT NULL,
      status text NOT NULL,
      ended_reason text,
      from_number text,
      summary text,
      started_at timestamptz,
      ended_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX calls_callable ON calls (callable_id, created_at DESC)`
  // What the SMTP mailer has sent, by idempotency key: the owner hears once.
  yield* sql`
    CREATE TABLE email_deliveries (
      idempotency_key text PRIMARY KEY,
      sent_at timestamptz NOT NULL DEFAULT now()
    )`
})

const assistantStatusAndPurchaseMarkers = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Whether the assistant points at us. Numbers recorded before this column existed had their assistant
  // pointed in the same job run, so they count as connected.
  yield* sql`
    ALTER TABLE businesses ADD COLUMN assistant_status text NOT NULL DEFAULT 'pending'
      CHECK (assistant_status IN ('pending', 'connected', 'failed'))`
  yield* sql`UPDATE businesses SET assistant_status = 'connected' WHERE number_status = 'assigned'`
  // A purchase request that went out with no definite answer yet. It is written on a connection of its own
  // while the business lock's transaction holds the business row, so it has no foreign key: the key check
  // would wait on that very lock.
  yield* sql`
    CREATE TABLE purchases_in_flight (
      business_id text PRIMARY KEY,
      since timestamptz NOT NULL DEFAULT now()
    )`
  // Sandbox mode's simulated Twilio account: the numbers it has sold, so that a restarted or second sandbox
  // process never sells one twice and can find what it sold (reconciliation, release).
  yield* sql`
    CREATE TABLE sandbox_twilio_numbers (
      sid text PRIMARY KEY,
      e164 text NOT NULL UNIQUE,
      area_code text NOT NULL,
      friendly_name text NOT NULL,
      voice_url text,
      created_at timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX sandbox_twilio_numbers_friendly_name ON sandbox_twilio_numbers (friendly_name)`
})

const businessesUpdatedAtAndListing = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Creation times to the millisecond, as the API shows them: the listing's cursor (createdAt, id) then compares
  // with the rows exactly (a microsecond the cursor cannot carry would skip or repeat a business).
  yield* sql`UPDATE businesses SET created_at = date_trunc('milliseconds', created_at)`
  yield* sql`ALTER TABLE businesses ALTER COLUMN created_at SET DEFAULT date_trunc('milliseconds', now())`
  // When the business last changed: kept by a trigger, so no UPDATE (of today or later) can forget it. An
  // UPDATE that changes nothing leaves it.
  yield* sql`
    ALTER TABLE businesses ADD COLUMN updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())`
  yield* sql`UPDATE businesses SET updated_at = created_at`
  yield* sql`
    CREATE FUNCTION businesses_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.updated_at := date_trunc('milliseconds', now());
      RETURN NEW;
    END
    $$`
  yield* sql`
    CREATE TRIGGER businesses_updated_at BEFORE UPDATE ON businesses
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION businesses_touch_updated_at()`
  // The listing's order (newest first, then by id), overall, per owner and per number status.
  yield* sql`CREATE INDEX businesses_newest ON businesses (created_at, id)`
  yield* sql`CREATE INDEX businesses_owner_newest ON businesses (owner_id, created_at, id)`
  yield* sql`CREATE INDEX businesses_number_status_newest ON businesses (number_status, created_at, id)`
  yield* sql`DROP INDEX businesses_owner_id`
})

const numberLifecycle = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // A business can leave (`cancelled`: its number parked until `release_at`) and come back.
  yield* sql`
    ALTER TABLE businesses ADD COLUMN status text NOT NULL DEFAULT 'active'
      CHECK (status IN ('active', 'cancelled'))`
  yield* sql`ALTER TABLE businesses ADD COLUMN release_at timestamptz`
  yield* sql`ALTER TABLE businesses DROP CONSTRAINT businesses_number_status_check`
  yield* sql`
    ALTER TABLE businesses ADD CONSTRAINT businesses_number_status_check
      CHECK (number_status IN ('pending', 'assigned', 'failed', 'released'))`
  yield* sql`CREATE INDEX businesses_status_newest ON businesses (status, created_at, id)`
  // Twilio's creation time is the billing anniversary. Numbers recorded before it was kept were recorded within
  // seconds of their purchase: their recording time stands for it.
  yield* sql`ALTER TABLE phone_numbers ADD COLUMN date_created timestamptz`
  yield* sql`UPDATE phone_numbers SET date_created = created_at`
  // A default for the previous version's writers, still running during a rolling deploy.
  yield* sql`ALTER TABLE phone_numbers ALTER COLUMN date_created SET DEFAULT now()`
  yield* sql`ALTER TABLE phone_numbers ALTER COLUMN date_created SET NOT NULL`
  // Released numbers stay as history; the unique keys hold among the numbers in use, so a business can hold a
  // second number over its life and Twilio can sell us an aged number again.
  yield* sql`ALTER TABLE phone_numbers ADD COLUMN released_at timestamptz`
  yield* sql`ALTER TABLE phone_numbers DROP CONSTRAINT phone_numbers_business_id_key`
  yield* sql`ALTER TABLE phone_numbers DROP CONSTRAINT phone_numbers_e164_key`
  yield* sql`ALTER TABLE phone_numbers DROP CONSTRAINT phone_numbers_twilio_sid_key`
  yield* sql`CREATE UNIQUE INDEX phone_numbers_in_use_business ON phone_numbers (business_id) WHERE released_at IS NULL`
  yield* sql`CREATE UNIQUE INDEX phone_numbers_in_use_e164 ON phone_numbers (e164) WHERE released_at IS NULL`
  yield* sql`CREATE UNIQUE INDEX phone_numbers_in_use_sid ON phone_numbers (twilio_sid) WHERE released_at IS NULL`
  yield* sql`CREATE INDEX phone_numbers_business ON phone_numbers (business_id)`
  // A release request that went out with no recorded answer yet (as purchases_in_flight, and for the same reason
  // without a foreign key).
  yield* sql`
    CREATE TABLE releases_in_flight (
      business_id text PRIMARY KEY,
      since timestamptz NOT NULL DEFAULT now()
    )`
})

const ownerEventStreams = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // One stream per business: its last offset (each event takes the next under this row's lock, so offsets
  // follow commit order with no gaps) and its epoch, fixed when the stream is made.
  yield* sql`
    CREATE TABLE event_streams (
      business_id text PRIMARY KEY,
      epoch text NOT NULL DEFAULT substr(md5(random()::text || clock_timestamp()::text), 1, 12),
      last_offset bigint NOT NULL DEFAULT 0
    )`
  // The events, kept for resuming (pruned to at least EVENT_HISTORY_MIN per stream and EVENT_HISTORY_DAYS).
  yield* sql`
    CREATE TABLE owner_events (
      business_id text NOT NULL,
      "offset" bigint NOT NULL,
      epoch text NOT NULL,
      type text NOT NULL,
      payload text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (business_id, "offset")
    )`
  yield* sql`CREATE INDEX owner_events_created_at ON owner_events (created_at)`
})

const migrations = {
  "0001_initial": initial,
  "0002_assistant_status_purchase_markers": assistantStatusAndPurchaseMarkers,
  "0003_businesses_updated_at_listing": businessesUpdatedAtAndListing,
  "0004_number_lifecycle": numberLifecycle,
  "0005_owner_event_streams": ownerEventStreams
}

// Any constant: processes starting together queue on it instead of racing to create the tables.
const MIGRATION_LOCK = 727_274_001

export const migrate = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  return yield* sql.withTransaction(
    Effect.gen(function* () {
      yield* sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`
      return yield* Migrator.make({})({
        loader: Migrator.fromRecord(migrations),
        table: "numbers_migrations"
      })
    })
  )
}).pipe(Effect.withSpan("Database.migrate"))

/** Whether every migration this code knows is applied (readiness). */
export const migrationsApplied = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly count: number }>`
    SELECT count(*)::int AS count FROM numbers_migrations`.pipe(
    Effect.catch(() => Effect.succeed([{ count: 0 }]))
  )
  return (rows[0]?.count ?? 0) >= Object.keys(migrations).length
})
