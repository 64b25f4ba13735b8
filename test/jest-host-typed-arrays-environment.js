// Jest environment for in-process tests that run onnxruntime-node: the native addon checks tensor
// data against the host realm's typed-array constructors, so jest's sandbox gets the host's
// (otherwise: "data must be type of function Float32Array"). Use it with a docblock:
//   /** @jest-environment ./test/jest-host-typed-arrays-environment.js */
const { TestEnvironment } = require('jest-environment-node');

const NAMES = [
  'ArrayBuffer', 'SharedArrayBuffer', 'DataView',
  'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array',
  'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
];

class HostTypedArraysEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of NAMES) {
      this.global[name] = globalThis[name];
    }
  }
}

module.exports = HostTypedArraysEnvironment;
