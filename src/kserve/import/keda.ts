/**
 * KServe's KEDA mode (`serving.kserve.io/autoscalerClass: keda`, raw only) → `autoscaler:
 * Autoscaler.KEDA`. KServe names the Prometheus server in `autoScaling.metrics[].external.metric`
 * (backend `prometheus`, `serverAddress`, `query`; imports/kserve-inferenceservices.yaml); our
 * ScaledObject keeps that server and scales on our server's own series instead of the query.
 */
import { FieldReader } from './fields';

export interface ImportedKeda {
  readonly prometheusAddress: string;
}

/**
 * The KEDA settings of component `p`, or a reason they cannot be imported (then the caller
 * reports the annotation and `autoScaling` as before).
 */
export function mapKeda(r: FieldReader, p: string, minReplicas: number | undefined, scaleMetric: string | undefined): ImportedKeda | string {
  if (minReplicas === 0) return "minReplicas 0 with KEDA needs an ingress through KEDA's HTTP add-on, which the import does not write; set 'autoscaler', 'minReplicas: 0' and 'ingress' yourself";
  if (scaleMetric === 'cpu' || scaleMetric === 'memory') return `KEDA on ${scaleMetric} is what 'autoscaler: Autoscaler.HPA' (the default) does: remove the annotation, or scale on concurrency or rps`;
  const metrics = r.list(`${p}.autoScaling.metrics`) ?? [];
  for (let i = 0; i < metrics.length; i++) {
    const m = `${p}.autoScaling.metrics.${i}`;
    const address = r.string(`${m}.external.metric.serverAddress`);
    if (r.string(`${m}.type`) !== 'External' || r.string(`${m}.external.metric.backend`) !== 'prometheus' || address === undefined) continue;
    for (const read of ['type', 'external.metric.backend', 'external.metric.serverAddress']) r.mark(`${m}.${read}`);
    for (const replaced of ['external.metric.query', 'external.target']) {
      r.unmapped(`${m}.${replaced}`, "KEDA's trigger queries our server's series instead (scaleMetric, scaleTarget): check the target");
    }
    return { prometheusAddress: address };
  }
  return "no External metric with backend 'prometheus' and a 'serverAddress' in autoScaling.metrics, which 'kedaPrometheusAddress' needs";
}
