// The Node-side LabApi (no Electron): the service, its input schemas, the browser bridge.
export * from './service.ts';
export * from './schemas.ts';
export * from './events.ts';
export { startBridge, contentSecurityPolicy, WS_PATH, type Bridge, type BridgeOptions } from './bridge.ts';
