-- Facts about the installation itself, one row per key: the spool's identity ("spool_id") is the first.
CREATE TABLE "relay_settings" (
    "key" VARCHAR(100) NOT NULL,
    "value" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "relay_settings_pkey" PRIMARY KEY ("key")
);
