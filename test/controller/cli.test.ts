/**
 * The bundled `cdk8s-model-serving` bin (assets/tool/cli.js) as a process: usage, help, and flag
 * errors that name the flag, each with its exit code. No cluster needed.
 */
import { spawnSync } from 'child_process';
import { TOOL } from './harness';

const run = (...args: string[]) => spawnSync(process.execPath, [TOOL, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 30_000 });

describe('cdk8s-model-serving (the bundled tool)', () => {
  test('no command prints the usage and exits 2; --help exits 0', () => {
    const none = run();
    expect(none.status).toBe(2);
    expect(none.stdout).toMatch(/Usage: cdk8s-model-serving <command>/);
    expect(run('--help').status).toBe(0);
  });

  test('controller --help lists every flag with its environment variable and default', () => {
    const r = run('controller', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--kubeconfig <value> \(env KUBECONFIG\)/);
    expect(r.stdout).toMatch(/--resync-seconds <value> \(env RESYNC_SECONDS\)\n.*default: 300/);
    expect(r.stdout).toMatch(/--lease-duration-seconds/);
  });

  test('fails on an unknown command, naming it, with exit code 2', () => {
    const r = run('kontroller');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'kontroller'/);
  });

  test('fails on a bad flag value with a message naming the flag, exit code 2, before any connection', () => {
    const r = run('controller', '--workers', '0');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("cdk8s-model-serving controller: --workers must be an integer between 1 and 64, got '0'\n");
    const env = spawnSync(process.execPath, [TOOL, 'controller'], { encoding: 'utf8', env: { PATH: process.env.PATH, RESYNC_SECONDS: 'soon' } });
    expect(env.status).toBe(2);
    expect(env.stderr).toMatch(/RESYNC_SECONDS \(for --resync-seconds\) must be an integer between 0 and 86400, got 'soon'/);
  });

  test('fails with a clear log line and exit code 2 when the kubeconfig cannot be read', () => {
    const r = run('controller', '--kubeconfig', '/nonexistent/kubeconfig', '--metrics-port', '0');
    expect(r.status).toBe(2);
    const line = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(line).toMatchObject({ level: 'error', msg: 'could not load the Kubernetes configuration', kubeconfig: '/nonexistent/kubeconfig' });
  });
});
