// Stands in for the generated src/package-version.ts under jest (moduleNameMapper in .projenrc.ts), so the
// image tag in snapshots stays the same when projen's release bumps package.json and then runs the
// tests. test/release/version.test.ts checks the real src/package-version.ts against package.json.
export const PACKAGE_VERSION = '0.0.0-test';
