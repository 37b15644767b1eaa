-- CreateTable
CREATE TABLE "resumable_uploads" (
    "id" UUID NOT NULL,
    "device_id" UUID NOT NULL,
    "protocol" VARCHAR(16) NOT NULL,
    "length" BIGINT,
    "offset" BIGINT NOT NULL DEFAULT 0,
    "device_asset_id" VARCHAR(255) NOT NULL,
    "file_name" VARCHAR(255) NOT NULL,
    "file_created_at" TIMESTAMPTZ(3),
    "sha256" CHAR(64),
    "asset_id" UUID,
    "duplicate" BOOLEAN NOT NULL DEFAULT false,
    "completed_at" TIMESTAMPTZ(3),
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "resumable_uploads_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "resumable_uploads_device_id_completed_at_idx" ON "resumable_uploads"("device_id", "completed_at");

-- CreateIndex
CREATE INDEX "resumable_uploads_expires_at_idx" ON "resumable_uploads"("expires_at");

-- AddForeignKey
ALTER TABLE "resumable_uploads" ADD CONSTRAINT "resumable_uploads_device_id_fkey" FOREIGN KEY ("device_id") REFERENCES "devices"("id") ON DELETE CASCADE ON UPDATE CASCADE;
