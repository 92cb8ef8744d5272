// The health manager: the one public entry of platform/health.
export { startHealthManager, type HealthManager, type HealthManagerOptions } from './health-manager';
export { defaultHealthTimings, restartDelayMs, type HealthTimings } from './timings';
