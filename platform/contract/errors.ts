// The v1 error codes (PROTOCOL.md §1) and the HTTP status each is answered with. Every error body
// is `{"code": N, "description": "..."}` (see `errorBody` in rest.ts).

export const ErrorCodes = {
  badRequest: 100,
  lockConflict: 102,
  forbidden: 200,
  /** Login with an unknown email or a wrong password is `forbidden`; this is a user an admin named that does not exist. */
  userNotFound: 201,
  appInvalid: 300,
  appNotFound: 301,
  fileRetrieval: 306,
  fileNotFound: 303,
  instanceNotFound: 304,
  appStopped: 305,
  invalidRuntime: 307,
  invalidFramework: 308,
  stagingFailed: 310,
  /** Resources list is not valid JSON / has a bad entry / names an unsafe, duplicate or unknown file. */
  badResources: 400,
  /** Package (declared unzipped size) or request body over the limit. */
  packageTooLarge: 401,
  /** The uploaded zip is unreadable, lies about its contents, or has unsafe entries. */
  badZip: 402,
  /** `base_package` of a delta upload is not the app's current package (any more): push everything. */
  staleBasePackage: 403,
  serviceNotFound: 500,
  bindingNotFound: 501,
  /** The service gateway failed or answered something unexpected. */
  serviceGatewayError: 503,
  tooManyServices: 504,
  notEnoughMemory: 600,
  tooManyApps: 601,
  tooManyUris: 602,
  badUri: 700,
  uriTaken: 701,
  stagingTimeout: 800,
  stagingAborted: 801,
  notFound: 404,
  internal: 10000,
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** The HTTP status of each code; a code not listed is answered 500. */
export const errorHttpStatus: Readonly<Record<ErrorCode, number>> = {
  100: 400, 102: 400, 200: 403, 201: 403, 300: 400, 301: 404, 303: 404, 304: 400, 305: 400, 306: 500,
  307: 400, 308: 400, 310: 500, 400: 400, 401: 400, 402: 400, 403: 409, 500: 404, 501: 404, 503: 502, 504: 403, 600: 403, 601: 403, 602: 403,
  700: 400, 701: 403, 800: 500, 801: 500, 404: 404, 10000: 500,
};

/** The codes a failed staging carries (in `staging_error` and the `staging` event's `code`). */
export const stagingFailureCodes: readonly number[] = [ErrorCodes.stagingFailed, ErrorCodes.stagingTimeout, ErrorCodes.stagingAborted];
