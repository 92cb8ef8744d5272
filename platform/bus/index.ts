// The bus: the one public entry of platform/bus.
export { Bus, BusDecodeError, BusEncodeError, decode, type BusOptions, type Handler, type HandlerContext, type SubscribeOptions } from './bus';
export { subject, requestSubject, type Subject, type RequestSubject, type Payload, type Message, type Reply, type ReplyPayload } from './descriptor';
export { Subjects, QueueGroups } from './subjects';
export { startEmbeddedNats, findNatsServerBinary, newToken, NatsServerNotFound, type EmbeddedNats, type EmbeddedNatsOptions } from './server';
export * from './messages';
export * from './catalog';
export { ActualState, isLive, liveStates, type ActualInstance, type ActualStateOptions } from './actual-state';
export * from './services';
