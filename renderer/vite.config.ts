// The renderer: Svelte 5 + Vite 7, built to renderer/dist with relative URLs, so the same files
// load in Electron (app:// protocol) and from `halab ui` (http://127.0.0.1:PORT/).
// `npm run dev` serves it with hot reload and proxies /api to a `halab ui --port 7420`.
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const uiPort = process.env.HALAB_UI_PORT ?? '7420';

export default defineConfig({
  root,
  base: './',
  plugins: [svelte()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1200,
    reportCompressedSize: false,
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    strictPort: true,
    proxy: {
      '/api': { target: `http://127.0.0.1:${uiPort}`, ws: true, headers: { origin: `http://127.0.0.1:${uiPort}` } },
    },
  },
});
