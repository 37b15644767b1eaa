# syntax=docker/dockerfile:1
# Build: install everything, generate the Prisma client, bundle src/ into dist/, then drop dev dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts ./
COPY scripts ./scripts
COPY prisma ./prisma
# Dependencies first, in their own layer; the project's postinstall (generate + build) needs src/, so it runs below.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npm run db:generate && npm run build && npm prune --omit=dev --ignore-scripts

# Run: non-root, data on a volume, health checked.
FROM node:24-bookworm-slim
# The MALLOC_* settings and the Node flags in CMD are npm start's (package.json), which bound the relay's memory: see the
# README's Performance section. test/production-command.test.ts keeps the two the same.
ENV NODE_ENV=production \
    PORT=8080 \
    DATA_DIR=/data \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/package.json /app/prisma.config.ts ./
COPY --from=build --chown=node:node /app/prisma ./prisma
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node bin ./bin
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Applies pending migrations, then serves the API and runs the forwarding workers (use --role api|worker to split).
CMD ["node", "--max-semi-space-size=2", "--max-old-space-size=512", "--liftoff-only", "--expose-gc", "dist/main.js"]
