// Build (or find in the cache) the qemu provider's base image: `npx tsx scripts/vm-image.ts`.
// The set-up runs it for the doctor check `qemu:image`; it prints each phase with its time.
import { toErrorInfo } from '../provisioning/errors.ts';
import { ensureImage, imagePaths } from '../provisioning/providers/qemu/image.ts';

const t0 = performance.now();
try {
  const r = await ensureImage({ onLog: (l) => console.log(`  ${l}`) });
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    r.cached ? `VM image cached (${s} s): ${imagePaths().root}` : `VM image built in ${s} s: ${imagePaths().root}`,
  );
} catch (err) {
  const e = toErrorInfo(err);
  console.error(`error: ${e.message}${e.details ? `\n${e.details}` : ''}${e.fix ? `\nfix: ${e.fix}` : ''}`);
  process.exit(1);
}
