/** The broker client's public entry point; usable from plain Node (no `vscode` import anywhere under src/broker). */
export { MeshClient } from './client';
export type { MeshClientOptions } from './client';
export { BrokerConnection, BrokerError, backoffDelay, DEFAULT_TIMING } from './connection';
export type { SessionKey, Timing } from './connection';
export { Outbox, MessageTooLargeError } from './outbox';
export { Inbox } from './inbox';
export { parseFrame, helloFailure, classifySendError } from './protocol';
export { MemoryStore, FileStore } from './store';
export type { KeyValueStore } from './store';
export { Emitter } from './events';
export type { Event, Disposable } from './events';
export * from './crypto';
export { brokerUrlProblem, createEmptyConfig, loadConfig, defaultConfigPath, validateJoinedMesh, writeJoinedMesh } from './config';
export type { ConfigLoadResult } from './config';
export { acceptInvite, parseInviteLink, decodeInviteToken, verifyInvite, InviteError } from './invite';
export * from './types';
