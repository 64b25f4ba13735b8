/**
 * The few API calls the webhook's TLS handling makes (read and write its Secret, patch caBundle),
 * as one `request` function: the controller passes its own client (src/controller/kube.ts, on
 * @kubernetes/client-node), and the in-process tests pass test/cluster's KubeClient. Non-2xx answers
 * are returned, not thrown, so callers decide what a 404 or 409 means.
 */
export interface KubeRequester {
  request(method: string, path: string, options?: { body?: unknown; contentType?: string }): Promise<{ status: number; body: any }>;
}
