// The bus: the one public entry of platform/bus.
export { Bus, BusDecodeError, decode, type BusOptions, type Handler, type HandlerContext, type SubscribeOptions } from './bus';
export { Subjects, QueueGroups } from './subjects';
export { startEmbeddedNats, findNatsServerBinary, newToken, NatsServerNotFound, type EmbeddedNats, type EmbeddedNatsOptions } from './server';
export * from './messages';
