/** The agent's own series next to the request metrics: the batches it sends upstream. */
import * as client from 'prom-client';
import { AGENT } from '../../contract';
import { ServerMetrics } from '../metrics';

const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

export class AgentMetrics {
  public readonly batchSize: client.Histogram<'model' | 'protocol'>;
  public readonly batches: client.Counter<'model' | 'protocol'>;

  constructor(public readonly server: ServerMetrics) {
    const registers = [server.registry];
    this.batchSize = new client.Histogram({
      name: AGENT.batchSizeMetric, help: 'Rows (V1 instances, V2 dim 0) per batch the agent sent to the runtime.', labelNames: ['model', 'protocol'], buckets: BATCH_SIZE_BUCKETS, registers,
    });
    this.batches = new client.Counter({ name: AGENT.batchesMetric, help: 'Batches the agent sent to the runtime.', labelNames: ['model', 'protocol'], registers });
  }

  public recordBatch(model: string, protocol: string, rows: number): void {
    this.batchSize.observe({ model, protocol }, rows);
    this.batches.inc({ model, protocol });
  }
}
