// The bus: the one public entry of platform/bus.
export { Bus, BusDecodeError, BusEncodeError, decode, natsServers, type BusOptions, type TlsFiles, type Handler, type HandlerContext, type SubscribeOptions } from './bus';
export { subject, requestSubject, type Subject, type RequestSubject, type Payload, type Message, type Reply, type ReplyPayload } from './descriptor';
export { Subjects, QueueGroups } from './subjects';
export { startEmbeddedNats, findNatsServerBinary, newToken, natsServerConfig, routeCredentials, NatsServerNotFound, type EmbeddedNats, type EmbeddedNatsOptions, type NatsClusterOptions } from './server';
export * from './messages';
export * from './catalog';
export { ActualState, isLive, liveStates, type ActualInstance, type ActualStateOptions } from './actual-state';
export * from './services';
