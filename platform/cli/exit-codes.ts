// Exit codes of `pocket`, a contract with whoever runs it (the editor's supervisor reads them).
export const ExitCodes = {
  /** Any failure: the message on stderr says what. */
  failure: 1,
  /** nats-server is not installed: a missing prerequisite, not worth restarting for. */
  natsServerNotFound: 3,
} as const;
