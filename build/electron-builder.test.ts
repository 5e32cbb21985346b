// The packaging configuration passes electron-builder's own validation (its JSON schema), and
// that validation does catch a broken config (so this test can fail).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getConfig, validateConfiguration } from 'app-builder-lib/out/util/config/config.js';
import { DebugLogger } from 'builder-util';
import type { Configuration } from 'app-builder-lib';
import { ROOT } from './build-electron.ts';

const CONFIG = 'build/electron-builder.yml';

describe('electron-builder configuration', { timeout: 60_000 }, () => {
  it("passes electron-builder's schema validation", async () => {
    const cfg = await getConfig(ROOT, join(ROOT, CONFIG), null);
    await expect(validateConfiguration(cfg, new DebugLogger(false))).resolves.toBeUndefined();
    expect(cfg.appId).toBe('dev.halab.app');
    expect(cfg.linux?.target).toEqual(['AppImage', 'deb']);
    expect(cfg.mac?.target).toBe('dmg');
    expect(cfg.win?.target).toBe('nsis');
  });

  it('points at icons that exist', async () => {
    const cfg = await getConfig(ROOT, join(ROOT, CONFIG), null);
    expect(existsSync(join(ROOT, cfg.mac!.icon as string))).toBe(true);
    expect(existsSync(join(ROOT, cfg.win!.icon as string))).toBe(true);
    for (const s of [16, 32, 48, 64, 128, 256, 512])
      expect(existsSync(join(ROOT, 'build', 'icons', `${s}x${s}.png`))).toBe(true);
  });

  it('rejects a configuration with an unknown option or a wrong type', async () => {
    const cfg = await getConfig(ROOT, join(ROOT, CONFIG), null);
    await expect(
      validateConfiguration(
        { ...cfg, linux: { ...cfg.linux, targget: 'AppImage' } } as unknown as Configuration,
        new DebugLogger(false),
      ),
    ).rejects.toThrow(/configuration\.linux/);
    await expect(
      validateConfiguration({ ...cfg, asar: 'yes' } as unknown as Configuration, new DebugLogger(false)),
    ).rejects.toThrow(/configuration\.asar/);
  });
});
