// platform/client: the v1 REST client, the pusher and manifest reading. Pure JS (no native
// modules): the editor loads it in its own process.
export { CloudControllerClient, type CloudControllerClientOptions, type CallOptions, type UploadOptions, type UploadResult } from './cloud-controller';
export type { EventStreamOptions, EventSubscription } from './events';
export {
  CloudControllerError, CloudControllerUnreachableError, ManifestError, NoTargetError, PushCancelledError, PushError,
} from './errors';
export { push, type PushOptions, type PushProgress, type PushSummary } from './pusher';
export { startApp, appUrl, type StartAppOptions, type StartResult } from './app-start';
export { listAppFiles, fingerprintFiles, scanApp, alwaysSkipped, type AppFile, type AppFileEntry, type FingerprintCache, type FingerprintProgress } from './fingerprint';
export { packFiles, type PackOptions } from './package';
export { defaultPushCacheDir } from './push-cache';
export { findManifest, parseManifest, readManifest, parseMemory, manifestFileNames, type Manifest, type ManifestApp } from './manifest';
export {
  defaultDataDir, readEndpoint, resolveTarget, readSavedTarget, saveTarget, clearSavedTarget,
  endpointFileName, targetFileName, type Endpoint, type Target,
} from './endpoint';
export { writeFileAtomic } from '../atomic-file';
export { formatBytes, formatDuration, formatMemory, formatTable, formatPushCounts } from './format';
export { ContractError, ErrorCodes, stagingFailureCodes, type ErrorCode } from '../contract';
export type {
  App, AppCreateRequest, AppState, AppStats, AppUpdateRequest, CrashInfo, FrameworkInfo, Info, InstanceInfo, InstanceRestart, InstanceStateName,
  InstanceStats, PackageState, PlatformEvent, Resource, RuntimeInfo, RuntimesInfo,
  ServiceCreateRequest, ServiceCredentials, ServiceInstance, ServiceOfferingInfo, ServicesInfo, UserInfo,
} from '../contract';
