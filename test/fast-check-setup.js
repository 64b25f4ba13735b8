// Jest setup (every test file): fast-check properties that name no seed get a fixed one, so no
// test passes or fails by chance, and a failure replays (see test/seeded.ts for FC_SEED/FC_PATH).
const fc = require('fast-check');

const DEFAULT_SEED = 20261207; // test/seeded.ts DEFAULT_SEED
const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : DEFAULT_SEED;
fc.configureGlobal({ seed, ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}) });
