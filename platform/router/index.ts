// The router: the one public entry of platform/router.
export { startRouter, defaultRouterTimings, defaultMaxHeaderBytes, type Router, type RouterOptions, type RouterTimings } from './router';
export { NOT_FOUND_BODY } from './proxy';
export { STICKY_COOKIE } from './headers';
export { OVERLOADED_BODY } from './connections';
export type { Balancing } from './route-table';
