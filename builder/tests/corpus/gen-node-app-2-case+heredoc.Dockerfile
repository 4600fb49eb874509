# syntax=docker/dockerfile:1
FROM node:20-alpine AS deps
wOrKdIr /app
cOPy package.json package-lock.json ./
Run --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev

FROm node:20-alpine
eNv NODE_ENV=production \
    PORT=3000
WORkdir /app
COPy --from=deps /app/node_modules ./node_modules
COpY . .
uSeR node
eXposE 3000
hEAlTHchEck --interval=30s --timeout=3s --retries=3 CMD wget -qO- http://localhost:3000/health || exit 1
CMd ["node", "server.js"]
