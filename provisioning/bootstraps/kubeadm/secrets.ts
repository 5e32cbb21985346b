// What nodes need to join, kept in the lab directory (mode 0600): a bootstrap token, the key
// that encrypts the control-plane certificates kubeadm uploads, and the pin of the cluster CA.
// The token lives 24 h and the uploaded certificates 2 h (kubeadm deletes the kubeadm-certs
// Secret then): a later join (a resumed `up`, a node added next week) makes them again.
import { X509Certificate, createHash, randomBytes, randomInt } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { LabContext } from '../../engine/context.ts';
import { shq } from '../../exec/types.ts';
import { kubectlJson } from '../../k8s/kubectl.ts';
import { masterHosts } from '../../spec/roles.ts';
import { localPki } from '../../steps/pki/paths.ts';
import { HalabError } from '../../errors.ts';
import { INIT_CONFIG, TOKEN_TTL, type JoinSecrets } from './config.ts';
import { NODE_PATH } from './node-files.ts';

const SecretsSchema = z.object({
  token: z.string().regex(/^[a-z0-9]{6}\.[a-z0-9]{16}$/),
  certificateKey: z.string().regex(/^[0-9a-f]{64}$/),
  caCertHash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
});

const file = (lab: LabContext) => join(lab.dir, 'kubeadm', 'secrets.json');
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const word = (n: number) => Array.from({ length: n }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');

/** A bootstrap token in kubeadm's format "[a-z0-9]{6}.[a-z0-9]{16}" (what `kubeadm token generate` prints). */
export function newToken(): string {
  return `${word(6)}.${word(16)}`;
}

/** kubeadm's --discovery-token-ca-cert-hash of a CA certificate: sha256 of its SubjectPublicKeyInfo. */
export function caCertHash(pem: string | Buffer): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** The lab's join secrets, made the first time (the CA pin from the lab's own CA). */
export async function ensureSecrets(lab: LabContext): Promise<JoinSecrets> {
  const have = await fs.readFile(file(lab), 'utf8').then(
    (t) => SecretsSchema.safeParse(JSON.parse(t)),
    () => undefined,
  );
  if (have?.success) return have.data;
  const s: JoinSecrets = {
    token: newToken(),
    certificateKey: randomBytes(32).toString('hex'),
    caCertHash: caCertHash(await fs.readFile(join(localPki(lab.dir).clusterDir, 'ca.crt'))),
  };
  await fs.mkdir(join(lab.dir, 'kubeadm'), { recursive: true, mode: 0o700 });
  await fs.writeFile(`${file(lab)}.tmp`, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  await fs.rename(`${file(lab)}.tmp`, file(lab));
  return s;
}

interface SecretObj {
  data?: Record<string, string>;
}

/**
 * The secrets, made valid for a join now: the bootstrap token exists in the cluster and has not
 * expired (else `kubeadm token create` makes it again with the same value), and, for a
 * control-plane join, the uploaded certificates are still there (else `kubeadm init phase
 * upload-certs` uploads them again with the same key). Errors: KUBEADM_FAILED with kubeadm's output.
 */
export async function refreshJoinSecrets(
  lab: LabContext,
  o: { controlPlane: boolean; log: (m: string) => void },
): Promise<JoinSecrets> {
  const s = await ensureSecrets(lab);
  const m = masterHosts(lab.state.spec)[0]!.name;
  const id = s.token.split('.')[0]!;
  const tok = await kubectlJson<SecretObj>(lab, ['-n', 'kube-system', 'get', 'secret', `bootstrap-token-${id}`]).catch(
    () => undefined,
  );
  const exp = tok?.data?.expiration ? Date.parse(Buffer.from(tok.data.expiration, 'base64').toString()) : undefined;
  const run = async (what: string, cmd: string) => {
    o.log(`${what}: kubeadm ${cmd}`);
    const r = await lab
      .remote(m)
      .exec(`env -i HOME=/root PATH=${shq(NODE_PATH)} kubeadm ${cmd}`, { allowFail: true, timeoutMs: 120_000 });
    if (r.exitCode !== 0) {
      throw new HalabError('KUBEADM_FAILED', `kubeadm ${cmd.split(' ').slice(0, 3).join(' ')} on ${m} failed`, {
        details: `${r.stderr}\n${r.stdout}`.trim().split('\n').slice(-15).join('\n'),
        fix: `the API must answer through the VIP: see \`halab status ${lab.state.name}\``,
      });
    }
  };
  if (!tok || (exp !== undefined && exp - Date.now() < 10 * 60_000)) {
    if (tok) await run('the bootstrap token is about to expire', `token delete ${id}`);
    await run('the bootstrap token is gone or expired: making it again', `token create ${s.token} --ttl ${TOKEN_TTL}`);
  }
  if (o.controlPlane) {
    const certs = await kubectlJson<SecretObj>(lab, ['-n', 'kube-system', 'get', 'secret', 'kubeadm-certs']).catch(
      () => undefined,
    );
    if (!certs) {
      await run(
        'the uploaded certificates expired (2 h): uploading them again',
        `init phase upload-certs --upload-certs --certificate-key ${s.certificateKey} --config ${INIT_CONFIG}`,
      );
    }
  }
  return s;
}
