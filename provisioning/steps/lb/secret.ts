// The lab's VRRP secret (VRRPv2 only), kept in the lab directory (mode 0600).
import { randomInt } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { LabContext } from '../../engine/context.ts';
import { AUTH_PASS_LENGTH } from './model.ts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

const secretFile = (lab: LabContext) => join(lab.dir, 'lb', 'vrrp-auth-pass');

/** The recorded secret, or undefined when there is none (or it is malformed). */
export async function readSecret(lab: LabContext): Promise<string | undefined> {
  const s = (await fs.readFile(secretFile(lab), 'utf8').catch(() => '')).trim();
  return new RegExp(`^[A-Za-z0-9]{${AUTH_PASS_LENGTH}}$`).test(s) ? s : undefined;
}

/** The recorded secret, made (and recorded atomically) the first time. */
export async function ensureSecret(lab: LabContext): Promise<string> {
  const have = await readSecret(lab);
  if (have) return have;
  const s = Array.from({ length: AUTH_PASS_LENGTH }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
  await fs.mkdir(join(lab.dir, 'lb'), { recursive: true, mode: 0o700 });
  const tmp = `${secretFile(lab)}.tmp`;
  await fs.writeFile(tmp, `${s}\n`, { mode: 0o600 });
  await fs.rename(tmp, secretFile(lab));
  return s;
}
