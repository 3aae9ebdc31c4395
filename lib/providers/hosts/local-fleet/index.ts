export { LocalFleet, LocalFleetArgs, LocalLoadBalancer, AppServiceSpec, localFleetSpec } from "./fleet";
export { LocalFleetHostSpec, planFleet, FleetPlan } from "./plan";
export { isDaemonRunning } from "./liveness";
