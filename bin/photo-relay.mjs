#!/usr/bin/env node
// The photo-relay CLI, from the bundle `npm run build` writes (npm install runs it).
await import('../dist/cli/main.js');
