# syntax=docker/dockerfile:1
# Build: install everything, generate the Prisma client, typecheck, then drop dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts ./
COPY scripts ./scripts
COPY prisma ./prisma
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
RUN npm prune --omit=dev --ignore-scripts

# Run: non-root, data on a volume, health checked.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=8080 \
    SPOOL_DIR=/data/spool
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/package.json /app/prisma.config.ts ./
COPY --from=build --chown=node:node /app/prisma ./prisma
COPY --from=build --chown=node:node /app/src ./src
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Applies pending migrations, then serves the API and runs the forwarding workers (use --role api|worker to split).
CMD ["node", "--import", "tsx", "src/main.ts"]
