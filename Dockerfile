# The service alone; PostgreSQL runs beside it (compose.yaml). Node strips the
# TypeScript types at load time, so there is no build step and no dist/.
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Dev tools stay out, and so does the optional embedded PostgreSQL: DATABASE_URL is set.
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force
COPY tsconfig.json ./
COPY drizzle ./drizzle
COPY src ./src
# Stripped once here, into the compile cache the service loads its code from: a process that
# strips types itself holds the stripper's memory for its whole life (src/main.js).
ENV NODE_COMPILE_CACHE=/app/.node-compile-cache
RUN node --input-type=module -e "await import('./src/serve.ts')"
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node itself is PID 1 and gets the SIGTERM of `docker stop`: under `npm start`, npm exits 1
# at once ("npm error signal SIGTERM") and takes the service down before it has drained.
# The flags are those of package.json's start script.
CMD ["node", "--experimental-strip-types", "--max-semi-space-size=4", "--heap-growing-percent=20", "src/main.js"]
