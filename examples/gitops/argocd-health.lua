-- Argo CD health of a cdk8s-model-serving custom resource (ModelEndpoint, CanaryRollout, ModelMesh).
-- Healthy: the controller has seen the latest spec and Ready is True. Degraded: Ready is False,
-- which needs a person (an invalid spec, a refused apply, a workload that failed). Otherwise
-- Progressing: the controller has not reconciled this generation yet, or Ready is Unknown.
local hs = { status = "Progressing", message = "waiting for the controller to reconcile the latest spec" }
local status = obj.status
if status == nil or status.observedGeneration == nil or status.observedGeneration < (obj.metadata.generation or 0) then
  return hs
end
for _, condition in ipairs(status.conditions or {}) do
  if condition.type == "Ready" then
    hs.message = condition.message or condition.reason or ""
    if condition.status == "True" then
      hs.status = "Healthy"
    elseif condition.status == "False" then
      hs.status = "Degraded"
    end
    return hs
  end
end
return hs
