-- AlterTable
ALTER TABLE "accounts" ADD COLUMN     "throttled_until" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "oauth_states" (
    "id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "state_hash" CHAR(64) NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "oauth_states_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "google_quota_usage" (
    "day" DATE NOT NULL,
    "account_id" UUID NOT NULL,
    "used" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "google_quota_usage_pkey" PRIMARY KEY ("day","account_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "oauth_states_state_hash_key" ON "oauth_states"("state_hash");

-- CreateIndex
CREATE INDEX "oauth_states_account_id_idx" ON "oauth_states"("account_id");

-- AddForeignKey
ALTER TABLE "oauth_states" ADD CONSTRAINT "oauth_states_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "google_quota_usage" ADD CONSTRAINT "google_quota_usage_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE CASCADE ON UPDATE CASCADE;
