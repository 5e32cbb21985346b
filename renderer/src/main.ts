import { mount } from 'svelte';
import '@xterm/xterm/css/xterm.css';
import './app.css';
import App from './App.svelte';
import { app } from './lib/app.svelte.ts';

app.init();
mount(App, { target: document.getElementById('app')! });
