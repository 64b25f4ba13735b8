/**
 * Runs one request through an inference graph, as KServe's router (cmd/router/main.go) does:
 *
 * - Sequence: steps in order; a step with `data: $response` gets the previous step's answer, any
 *   other (`$request`, or no `data`, as in KServe) the node's input; the first step gets the input.
 *   A step with a `condition` runs only if the condition finds a value in the previous answer;
 *   otherwise the sequence stops with the previous answer (KServe answers it with a 500; we keep
 *   its status). The answer is the last step's.
 * - Switch: the first step whose condition finds a value in the node's input runs; none: 404
 *   `{"error": "Failed to process request", "cause": "None of the routes matched with the switch condition"}`.
 * - Ensemble: every step at once on the input; the answer is a JSON object of each step's JSON
 *   answer under the step's name.
 * - Splitter: one step, drawn with probability weight/100 (the RNG is injectable for tests).
 *
 * Failures: a `Hard` step (the default) that answers non-2xx, cannot be reached, times out or
 * answers too much ends the graph with a JSON error naming the node and step (the upstream's
 * status for a non-2xx answer, 502 unreachable, 504 timeout, 502 too large). A `Soft` step's failure
 * is recorded (header and body field, see `./router-app`) and the graph goes on without it: a
 * Sequence keeps the previous answer, an Ensemble leaves the step's key out. The graph deadline
 * (`timeoutMs`) ends the whole request with a 504 naming the steps still running, soft or not.
 */
import { Answer, FailedStep, GraphDeadline, GraphFailure, isSuccess, shorten, StepFailure } from './answers';
import { conditionMatches, parseCondition, ParsedCondition } from '../../contract/graph-condition';
import { GraphNodeSpec, GraphSpec, GraphStepSpec } from '../../contract/graph-spec';

/** Calls a step's target (`serviceUrl` or `model`) with a body; resolves with any answer, rejects with `StepFailure`. */
export interface StepTarget {
  call(step: GraphStepSpec, body: Buffer, contentType: string, headers: Record<string, string>, timeoutMs: number): Promise<Answer>;
}

/** Step timing and outcome, for metrics and logs. */
export type StepObserver = (node: string, step: GraphStepSpec, status: number | 'timeout' | 'error', seconds: number) => void;

export interface ExecutorOptions {
  readonly spec: GraphSpec;
  readonly target: StepTarget;
  /** Uniform in [0, 1): the Splitter's draw. */
  readonly random: () => number;
  /** Graph deadline when the spec sets none (0: none). */
  readonly defaultTimeoutMs: number;
  readonly observe?: StepObserver;
}

/** The outcome of one graph request. */
export interface GraphResult {
  readonly answer: Answer;
  readonly failedSteps: readonly FailedStep[];
}

interface Run {
  readonly headers: Record<string, string>;
  readonly contentType: string;
  /** `performance.now()`-style deadline in ms since epoch (Infinity: none). */
  readonly deadline: number;
  readonly failed: FailedStep[];
  /** Steps in flight, for the graph timeout's message. */
  readonly running: Set<string>;
}

interface Input {
  readonly body: Buffer;
  /** The body parsed as JSON (undefined when it is not JSON), parsed on first use. */
  json(): unknown;
}

export class GraphExecutor {
  private readonly conditions = new Map<string, ParsedCondition>();

  constructor(private readonly options: ExecutorOptions) {
    // Conditions are validated before (validateGraphSpec); parse each once.
    for (const node of Object.values(options.spec.nodes)) {
      for (const step of node.steps) {
        if (step.condition !== undefined && !this.conditions.has(step.condition)) {
          this.conditions.set(step.condition, parseCondition(step.condition));
        }
      }
    }
  }

  /** Runs the graph from its root on `body`; never rejects (failures become JSON answers). */
  public async run(body: Buffer, contentType: string, headers: Record<string, string>): Promise<GraphResult> {
    const timeoutMs = this.options.spec.timeoutMs ?? this.options.defaultTimeoutMs;
    const run: Run = { headers, contentType, deadline: timeoutMs > 0 ? Date.now() + timeoutMs : Infinity, failed: [], running: new Set() };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      if (timeoutMs > 0) timer = setTimeout(() => reject(new GraphDeadline()), timeoutMs);
    });
    try {
      const answer = await Promise.race([this.runNode('root', input(body), run), deadline]);
      return { answer, failedSteps: run.failed };
    } catch (err) {
      const failure = err instanceof GraphDeadline
        ? new GraphFailure(504, 'graph_timeout', `the graph did not answer within ${timeoutMs} ms`,
          `steps still running: ${[...run.running].join(', ') || 'none'}`, undefined, [...run.running][0])
        : err instanceof GraphFailure ? err : new GraphFailure(500, 'status', 'Failed to process request', (err as Error).message);
      return { answer: failureAnswer(failure), failedSteps: run.failed };
    } finally {
      clearTimeout(timer);
    }
  }

  private async runNode(name: string, nodeInput: Input, run: Run): Promise<Answer> {
    const node = this.options.spec.nodes[name];
    switch (node.routerType) {
      case 'Sequence': return this.sequence(name, node, nodeInput, run);
      case 'Switch': return this.switch(name, node, nodeInput, run);
      case 'Ensemble': return this.ensemble(name, node, nodeInput, run);
      case 'Splitter': return this.splitter(name, node, nodeInput, run);
    }
  }

  private async sequence(name: string, node: GraphNodeSpec, nodeInput: Input, run: Run): Promise<Answer> {
    let previous: { answer: Answer; input: Input } | undefined;
    let lastFailure: GraphFailure | undefined;
    for (const step of node.steps) {
      // As KServe's router: only `$response` feeds the previous answer; no `data` sends the request.
      const from = step.data === '$response' && previous ? previous.input : nodeInput;
      // As KServe: a step's condition looks at the previous answer, whatever the step's data.
      if (step.condition !== undefined && !conditionMatches(this.conditions.get(step.condition)!, (previous?.input ?? nodeInput).json())) {
        if (previous) break;
        throw new GraphFailure(404, 'no_route', 'Failed to process request', `the condition of step '${step.name}' found nothing in the request, and no step before it answered`, name, step.name);
      }
      const answer = await this.step(name, step, from, run);
      if (answer) {
        previous = { answer, input: input(answer.body) };
      } else {
        lastFailure = new GraphFailure(502, 'nothing_answered', `every step of node '${name}' failed`, `the last one, '${step.name}', was soft`, name, step.name);
      }
    }
    if (previous) return previous.answer;
    throw lastFailure!; // validateGraphSpec: a node has at least one step
  }

  private async switch(name: string, node: GraphNodeSpec, nodeInput: Input, run: Run): Promise<Answer> {
    const document = nodeInput.json();
    // As gjson.ValidBytes: a body that is not JSON matches no condition.
    const matches = (s: GraphStepSpec) => s.condition !== undefined && conditionMatches(this.conditions.get(s.condition)!, document);
    const chosen = document === undefined ? undefined : node.steps.find(matches);
    if (!chosen) {
      throw new GraphFailure(404, 'no_route', 'Failed to process request', 'None of the routes matched with the switch condition', name);
    }
    return this.single(name, chosen, nodeInput, run);
  }

  private async splitter(name: string, node: GraphNodeSpec, nodeInput: Input, run: Run): Promise<Answer> {
    const point = Math.floor(this.options.random() * 100);
    let end = 0;
    const chosen = node.steps.find((s) => (end += s.weight ?? 0) > point);
    if (!chosen) throw new GraphFailure(500, 'no_route', 'Failed to process request', `no Splitter step drawn for point ${point}`, name);
    return this.single(name, chosen, nodeInput, run);
  }

  /** Switch and Splitter run one step: its answer is the node's (a soft failure leaves nothing to answer). */
  private async single(name: string, step: GraphStepSpec, nodeInput: Input, run: Run): Promise<Answer> {
    const answer = await this.step(name, step, nodeInput, run);
    if (answer) return answer;
    throw new GraphFailure(502, 'nothing_answered', `step '${step.name}' of node '${name}' failed and was the only step chosen`, run.failed[run.failed.length - 1]?.reason ?? '', name, step.name);
  }

  private async ensemble(name: string, node: GraphNodeSpec, nodeInput: Input, run: Run): Promise<Answer> {
    const settled = await Promise.allSettled(node.steps.map(async (step) => {
      const answer = await this.step(name, step, nodeInput, run);
      if (!answer) return undefined;
      const json = input(answer.body).json();
      if (json === undefined) {
        return this.failed(name, step, new StepFailure('not_json', 502, `step '${step.name}' answered something that is not JSON; an Ensemble merges JSON answers`), run);
      }
      return json;
    }));
    // As KServe: the first hard failure in step order decides the node's answer.
    const merged: Record<string, unknown> = {};
    settled.forEach((s, i) => {
      if (s.status === 'rejected') throw s.reason;
      if (s.value !== undefined) merged[node.steps[i].name] = s.value;
    });
    return { status: 200, body: Buffer.from(JSON.stringify(merged)), contentType: 'application/json' };
  }

  /**
   * Runs one step on `from`: its answer when it succeeded, undefined after a soft failure (recorded);
   * a hard failure throws a GraphFailure.
   */
  private async step(node: string, step: GraphStepSpec, from: Input, run: Run): Promise<Answer | undefined> {
    const started = Date.now();
    const label = node === 'root' ? step.name : `${node}/${step.name}`;
    const remaining = run.deadline - started;
    const stepLimit = step.timeoutMs ?? Infinity;
    const limit = Math.min(stepLimit, remaining);
    run.running.add(label);
    let answer: Answer;
    try {
      if (step.nodeName !== undefined) {
        answer = await withTimeout(this.runNode(step.nodeName, from, run), Number.isFinite(stepLimit) ? stepLimit : 0,
          () => new StepFailure('timeout', 504, `step '${step.name}' of node '${node}' did not answer within ${stepLimit} ms`));
      } else {
        answer = await this.options.target.call(step, from.body, run.contentType, run.headers, Number.isFinite(limit) ? Math.max(1, limit) : 0);
      }
    } catch (err) {
      const outcome = err instanceof StepFailure ? (err.kind === 'timeout' ? 'timeout' : err.status) : err instanceof GraphFailure ? err.status : 'error';
      this.options.observe?.(node, step, outcome, (Date.now() - started) / 1000);
      if (err instanceof GraphFailure) {
        // A nested node failed hard: this step fails with it, unless the step is soft.
        if (step.dependency !== 'Soft') throw err;
        return this.failed(node, step, new StepFailure('status', err.status, err.message), run);
      }
      if (!(err instanceof StepFailure)) throw err;
      // A step cut short by the graph deadline is the graph's timeout, not the step's.
      if (err.kind === 'timeout' && stepLimit > remaining) throw new GraphDeadline();
      return this.failed(node, step, err, run);
    } finally {
      run.running.delete(label);
    }
    this.options.observe?.(node, step, answer.status, (Date.now() - started) / 1000);
    if (!isSuccess(answer.status)) {
      return this.failed(node, step, new StepFailure('status', answer.status, `step '${step.name}' of node '${node}' answered ${answer.status}`, shorten(answer.body.toString('utf8'))), run);
    }
    return answer;
  }

  /** A soft step's failure is recorded (undefined: go on without it); a hard one ends the graph. */
  private failed(node: string, step: GraphStepSpec, failure: StepFailure, run: Run): undefined {
    if (step.dependency === 'Soft') {
      run.failed.push({ node, step: step.name, status: failure.status, reason: failure.message });
      return undefined;
    }
    throw new GraphFailure(failure.status, failure.kind, failure.message, failure.upstreamText ?? failure.message, node, step.name,
      failure.kind === 'status' ? failure.status : undefined);
  }
}

/** The JSON error answer of a failure. */
export function failureAnswer(failure: GraphFailure): Answer {
  return { status: failure.status, body: Buffer.from(JSON.stringify(failure.toJSON())), contentType: 'application/json' };
}

function input(body: Buffer): Input {
  let parsed: { value: unknown } | undefined;
  return {
    body,
    json() {
      if (!parsed) {
        try {
          parsed = { value: body.length === 0 ? undefined : JSON.parse(body.toString('utf8')) };
        } catch {
          parsed = { value: undefined };
        }
      }
      return parsed.value;
    },
  };
}

function withTimeout<T>(work: Promise<T>, ms: number, error: () => Error): Promise<T> {
  if (ms <= 0) return work;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
