// The router: the one public entry of platform/router.
export { startRouter, defaultRouterTimings, type Router, type RouterOptions, type RouterTimings } from './router';
export { NOT_FOUND_BODY, STICKY_COOKIE } from './proxy';
export type { Balancing } from './route-table';
