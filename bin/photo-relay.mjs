#!/usr/bin/env node
// The photo-relay CLI: TypeScript sources run through tsx, as the relay itself does.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
