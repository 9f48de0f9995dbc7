# chainwatch image: build with the full toolchain, run as a non-root user with production deps.
FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY bin bin
COPY collector collector
COPY demo demo
COPY pipeline pipeline
COPY processors processors
COPY schemas schemas
COPY dashboards dashboards
COPY bench bench
COPY test test
RUN npx tsc -p tsconfig.json

FROM node:20.20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist dist
USER node
EXPOSE 4318 4317 9464
ENTRYPOINT ["node", "dist/bin/chainwatch.js"]
CMD ["start"]
