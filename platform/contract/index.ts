// platform/contract: the wire contract between the controller and its clients (the client library,
// the CLI, the extension): REST bodies, the event stream and the v1 error codes.
export * from './errors';
export * from './events';
export * from './rest';
export * from './services';
export * from './users';
export { ContractError, decode } from './decode';
export { decodeEndpoint, type Endpoint } from './endpoint';
export { answerSchemaOf, restRouteOf, restRoutes, type RestRoute } from './routes';
export { decodeFilePath, encodeFilePath, escapeListingName, unescapeListingName, type FilePath } from './file-path';
export { extendPath, platformEnvNames, splitUserEnv, userEnvProblem } from './user-env';
