// Renders the app icon (renderer/public/icon.svg) to the PNG sizes Linux wants, an .ico for
// Windows and an .icns for macOS (both with PNG entries), into build/icons/. Uses Debian's
// Chromium through playwright-core. The results are committed; run again after changing the SVG:
//   npx tsx build/make-icons.ts
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT } from './build-electron.ts';

const SIZES = [16, 24, 32, 48, 64, 128, 256, 512, 1024];
const OUT = join(ROOT, 'build', 'icons');

/** ICO with PNG-compressed images (Windows Vista and later). */
export function ico(images: { size: number; png: Buffer }[]): Buffer {
  const header = Buffer.alloc(6);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2);
  header.writeUInt16LE(images.length, 4);
  const dir = Buffer.alloc(16 * images.length);
  let offset = 6 + dir.length;
  images.forEach((im, i) => {
    const o = i * 16;
    dir.writeUInt8(im.size >= 256 ? 0 : im.size, o);
    dir.writeUInt8(im.size >= 256 ? 0 : im.size, o + 1);
    dir.writeUInt8(0, o + 2);
    dir.writeUInt8(0, o + 3);
    dir.writeUInt16LE(1, o + 4);
    dir.writeUInt16LE(32, o + 6);
    dir.writeUInt32LE(im.png.length, o + 8);
    dir.writeUInt32LE(offset, o + 12);
    offset += im.png.length;
  });
  return Buffer.concat([header, dir, ...images.map((im) => im.png)]);
}

/** ICNS with PNG entries (ic07 128, ic08 256, ic09 512, ic10 1024, ic11 32@2x, ic12 64@2x, icp4 16, icp5 32). */
export function icns(bySize: Map<number, Buffer>): Buffer {
  const types: [string, number][] = [
    ['icp4', 16],
    ['icp5', 32],
    ['ic11', 32],
    ['ic12', 64],
    ['ic07', 128],
    ['ic08', 256],
    ['ic09', 512],
    ['ic10', 1024],
  ];
  const chunks: Buffer[] = [];
  for (const [type, size] of types) {
    const png = bySize.get(size);
    if (!png) continue;
    const head = Buffer.alloc(8);
    head.write(type, 0, 'ascii');
    head.writeUInt32BE(png.length + 8, 4);
    chunks.push(head, png);
  }
  const body = Buffer.concat(chunks);
  const head = Buffer.alloc(8);
  head.write('icns', 0, 'ascii');
  head.writeUInt32BE(body.length + 8, 4);
  return Buffer.concat([head, body]);
}

export async function makeIcons(): Promise<void> {
  const svg = await readFile(join(ROOT, 'renderer', 'public', 'icon.svg'), 'utf8');
  await mkdir(OUT, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  const pngs = new Map<number, Buffer>();
  try {
    const page = await browser.newPage();
    for (const size of SIZES) {
      await page.setViewportSize({ width: size, height: size });
      await page.setContent(
        `<html><body style="margin:0;background:transparent">${svg.replace('<svg ', `<svg style="display:block;width:${size}px;height:${size}px" `)}</body></html>`,
      );
      const png = await page.screenshot({ omitBackground: true, clip: { x: 0, y: 0, width: size, height: size } });
      pngs.set(size, png);
      await writeFile(join(OUT, `${size}x${size}.png`), png);
    }
  } finally {
    await browser.close();
  }
  await writeFile(join(OUT, 'icon.png'), pngs.get(512)!);
  await writeFile(
    join(OUT, 'icon.ico'),
    ico([16, 24, 32, 48, 64, 128, 256].map((size) => ({ size, png: pngs.get(size)! }))),
  );
  await writeFile(join(OUT, 'icon.icns'), icns(pngs));
}

if (process.argv[1]?.endsWith('make-icons.ts')) {
  await makeIcons();
  process.stdout.write(`icons written to ${OUT}\n`);
}
