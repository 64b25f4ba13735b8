/**
 * bench:synth — synthesize N ModelEndpoints and, in the same run, N plain cdk8s ApiObject sets
 * carrying the same YAML; print time and peak memory per size and the ratio.
 *
 * Each (kind, size) runs in its own child process, so peak RSS belongs to that case alone.
 * Usage: npm run bench:synth [-- --sizes 10,100,1000 --repeats 3]
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ApiObject, App, Chart, Testing } from 'cdk8s';
import { DeploymentMode, ModelEndpoint, StorageUri } from '../../src';

type Kind = 'endpoint' | 'apiobject';
interface Sample { kind: Kind; size: number; ms: number; peakRssMb: number; baselineRssMb: number; objects: number }

function declareEndpoints(chart: Chart, size: number): void {
  for (let i = 0; i < size; i++) {
    new ModelEndpoint(chart, `m${i}`, {
      name: `model-${i}`,
      modelName: `model-${i}`,
      storageUri: StorageUri.s3('models', `m${i}/model.onnx`),
      mode: i % 2 === 0 ? DeploymentMode.SERVERLESS : DeploymentMode.RAW,
    });
  }
}

/** The manifests of endpoint i, computed once up front so the plain case only copies JSON. */
function templates(): any[][] {
  const chart = Testing.chart();
  declareEndpoints(chart, 2);
  const all = Testing.synth(chart);
  // Each endpoint's objects are named after it: the endpoint's own, and `<name>-dashboard` etc.
  const of = (name: string) => all.filter(o => o.metadata.name === name || o.metadata.name.startsWith(`${name}-`));
  return [of('model-0'), of('model-1')];
}

function declarePlain(chart: Chart, size: number, shapes: any[][]): void {
  for (let i = 0; i < size; i++) {
    const shape = shapes[i % 2];
    shape.forEach((obj, j) => {
      const json = JSON.parse(JSON.stringify(obj).split(`model-${i % 2}`).join(`model-${i}`));
      new ApiObject(chart, `m${i}-${j}`, json);
    });
  }
}

function runCase(kind: Kind, size: number): Sample {
  const shapes = kind === 'apiobject' ? templates() : [];
  // Warm up the code paths once so the timed run measures steady-state synthesis.
  const warm = new App();
  const warmChart = new Chart(warm, 'warm');
  if (kind === 'endpoint') declareEndpoints(warmChart, 4); else declarePlain(warmChart, 4, shapes);
  warm.synthYaml();

  const baselineRssMb = process.memoryUsage().rss / 2 ** 20;
  const start = process.hrtime.bigint();
  const app = new App();
  const chart = new Chart(app, 'bench');
  if (kind === 'endpoint') declareEndpoints(chart, size); else declarePlain(chart, size, shapes);
  const yaml = app.synthYaml();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const objects = (yaml.match(/^kind: /gm) ?? []).length;
  return { kind, size, ms, peakRssMb: process.resourceUsage().maxRSS / 1024, baselineRssMb, objects };
}

function main(): void {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    const sample = runCase(args[1] as Kind, Number(args[2]));
    process.stdout.write(JSON.stringify(sample));
    return;
  }
  const option = (name: string, fallback: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const sizes = option('--sizes', '10,100,1000').split(',').map(Number);
  const repeats = Number(option('--repeats', '3'));
  const rows: Array<Record<string, number | string>> = [];
  for (const size of sizes) {
    const best: Partial<Record<Kind, Sample>> = {};
    // Interleave the two kinds so machine noise hits both alike; keep the fastest of each.
    for (let r = 0; r < repeats; r++) {
      for (const kind of ['apiobject', 'endpoint'] as Kind[]) {
        const out = execFileSync(process.execPath, [...process.execArgv, __filename, '--child', kind, String(size)], { encoding: 'utf8', maxBuffer: 1 << 26 });
        const sample: Sample = JSON.parse(out);
        if (!best[kind] || sample.ms < best[kind]!.ms) best[kind] = sample;
      }
    }
    const e = best.endpoint!;
    const a = best.apiobject!;
    if (e.objects !== a.objects) throw new Error(`object counts differ at ${size}: ${e.objects} vs ${a.objects}`);
    rows.push({
      endpoints: size,
      objects: e.objects,
      endpointMs: round(e.ms),
      apiObjectMs: round(a.ms),
      ratio: round(e.ms / a.ms),
      endpointMsPerEndpoint: round(e.ms / size, 3),
      endpointPeakRssMb: round(e.peakRssMb),
      apiObjectPeakRssMb: round(a.peakRssMb),
      // Growth over the process's RSS before the timed synthesis (modules already loaded).
      endpointRssGrowthMb: round(e.peakRssMb - e.baselineRssMb),
      apiObjectRssGrowthMb: round(a.peakRssMb - a.baselineRssMb),
    });
  }
  console.table(rows);
  const outDir = path.join(__dirname, '..', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'synth.json');
  fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, repeats, rows }, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

main();
