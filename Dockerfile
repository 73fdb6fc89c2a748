# The one Bindery image: `bindery operator` (operator and webhook) and `bindery runtime` (the
# sidecar) and `bindery demo` (the seed scenario's apps). It runs the JavaScript that
# `npm run build` emits (docs/adr/0031-the-image-runs-compiled-javascript.md): a pod starts
# without compiling TypeScript. `bindery` is the bundle of dist/bundle, whose code Node finds
# already compiled in the image's compile cache (docs/adr/0053-the-sidecar-starts-from-a-bundle-and-a-compile-cache.md).
# A checkout runs the sources through tsx instead (bin/bindery).
#
# NODE_IMAGE is the Node.js base: a supported LTS by default, Debian-based (glibc, and apt for
# jemalloc unless the base has it). Where no image registry can be reached, pass one made
# locally (the test environment does: docs/adr/0023-the-e2e-runs-on-a-real-node.md).
ARG NODE_IMAGE=node:24-slim
FROM ${NODE_IMAGE} AS build

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY runtime/src ./runtime/src
COPY operator/src ./operator/src
COPY topology ./topology
COPY sidecar-config ./sidecar-config
COPY time ./time
RUN npm run build

FROM ${NODE_IMAGE}

ENV NODE_ENV=production
WORKDIR /app

# jemalloc, which the webhook preloads into the sidecar (docs/adr/0059-the-sidecar-allocates-with-jemalloc.md):
# Debian's libjemalloc2, installed unless the base already has it (the test environment's base,
# made without apt, copies it in).
RUN ls /usr/lib/*-linux-gnu/libjemalloc.so.2 > /dev/null 2>&1 \
  || (apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/*)

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

COPY --from=build /app/dist ./dist
# Node's compile cache (Node 22.1 and later), filled here by loading every file of the bundle
# once: a pod's root filesystem is read-only, and each start reads the compiled code from it.
ENV NODE_COMPILE_CACHE=/app/compile-cache
RUN chmod 755 /app/dist/bundle/bindery.js && ln -s /app/dist/bundle/bindery.js /usr/local/bin/bindery \
  && bindery --help > /dev/null \
  && LD_PRELOAD=libjemalloc.so.2 node -e "if (!require('fs').readFileSync('/proc/self/maps', 'utf8').includes('/libjemalloc.so.2')) process.exit(1)" \
  && cd /app/dist/bundle && node --input-type=module \
    -e "import { readdirSync } from 'node:fs'; for (const f of readdirSync('.')) if (f !== 'bindery.js') await import('./' + f);"

# A numeric user, so that runAsNonRoot can be verified by the kubelet (the image's `node` user).
USER 1000:1000
# 7070: the sidecar's API (bound to 127.0.0.1), 7071: its ops port, 9443: the webhook.
EXPOSE 7071 9443
ENTRYPOINT ["bindery"]
