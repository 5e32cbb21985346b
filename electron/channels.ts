// The IPC channels between the preload and the main process: one for calls, one for events,
// one for "the page is listening". Shared by both sides (no imports: the preload bundles it).
export const CALL_CHANNEL = 'halab:call';
export const EVENTS_CHANNEL = 'halab:events';
export const READY_CHANNEL = 'halab:ready';

/** The renderer's origin: files served by the app:// protocol (see protocol.ts). */
export const APP_SCHEME = 'app';
export const APP_HOST = 'halab';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
