-- Which OAuth client made each account's link, so a start with another client (or none: demo mode) is refused
-- instead of re-linking real accounts to the emulator.
ALTER TABLE "accounts" ADD COLUMN "google_client_id" TEXT;

-- Links made before clients were recorded: demo links are recognisable by their e-mail domain. The others stay NULL
-- ("unknown"); start-up adopts them for the configured Google client, and refuses demo mode while any is linked.
UPDATE "accounts" SET "google_client_id" = '(demo)'
WHERE "google_client_id" IS NULL AND "google_email" LIKE '%@demo.photo-relay.invalid';

-- PKCE: every consent attempt keeps its (sealed) code verifier. Attempts started before this carry none and could
-- not complete: they are dropped (an admin starts the link again; used states only served to refuse replays,
-- which an unknown state is refused as well).
DELETE FROM "oauth_states";
ALTER TABLE "oauth_states" ADD COLUMN "code_verifier" BYTEA NOT NULL;
ALTER TABLE "oauth_states" ADD COLUMN "replace" BOOLEAN NOT NULL DEFAULT false;
