-- CreateEnum
CREATE TYPE "dav_entry_kind" AS ENUM ('file', 'collection');

-- CreateTable
CREATE TABLE "dav_entries" (
    "id" UUID NOT NULL,
    "device_id" UUID NOT NULL,
    "path" VARCHAR(1024) NOT NULL,
    "parent" VARCHAR(1024) NOT NULL,
    "kind" "dav_entry_kind" NOT NULL,
    "blob_sha256" CHAR(64),
    "asset_id" UUID,
    "size" BIGINT NOT NULL DEFAULT 0,
    "mtime" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "dav_entries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "dav_entries_device_id_parent_path_idx" ON "dav_entries"("device_id", "parent", "path");

-- CreateIndex
CREATE INDEX "dav_entries_blob_sha256_idx" ON "dav_entries"("blob_sha256");

-- CreateIndex
CREATE INDEX "dav_entries_asset_id_idx" ON "dav_entries"("asset_id");

-- CreateIndex
CREATE UNIQUE INDEX "dav_entries_device_id_path_key" ON "dav_entries"("device_id", "path");

-- AddForeignKey
ALTER TABLE "dav_entries" ADD CONSTRAINT "dav_entries_device_id_fkey" FOREIGN KEY ("device_id") REFERENCES "devices"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "dav_entries" ADD CONSTRAINT "dav_entries_blob_sha256_fkey" FOREIGN KEY ("blob_sha256") REFERENCES "blobs"("sha256") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "dav_entries" ADD CONSTRAINT "dav_entries_asset_id_fkey" FOREIGN KEY ("asset_id") REFERENCES "assets"("id") ON DELETE SET NULL ON UPDATE CASCADE;
