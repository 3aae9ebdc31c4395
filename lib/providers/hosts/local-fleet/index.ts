export { LocalFleet, LocalFleetArgs, LocalLoadBalancer, AppServiceSpec } from "./fleet";
export { LocalFleetHostSpec, planFleet, FleetPlan } from "./plan";
export { isDaemonRunning } from "./liveness";
