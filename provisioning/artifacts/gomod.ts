// A small go.mod reader: enough to learn from k8s.io/kubernetes's go.mod which modules are
// staging modules (required at v0.0.0 and replaced by ./staging/src/...), its `go` line and its
// `godebug` settings. Not a general go.mod parser: no retract/tool/ignore semantics.

export interface GoModRequire { path: string; version: string; indirect: boolean }
export interface GoModReplace { from: string; fromVersion?: string; to: string; toVersion?: string }

export interface GoMod {
  module?: string;
  go?: string;
  toolchain?: string;
  godebug: string[];
  require: GoModRequire[];
  replace: GoModReplace[];
}

/** Split a directive line into tokens; "quoted" tokens lose their quotes. */
function tokens(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|`([^`]*)`|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out;
}

export function parseGoMod(text: string): GoMod {
  const mod: GoMod = { godebug: [], require: [], replace: [] };
  let block: string | undefined;
  for (const raw of text.split('\n')) {
    const commentAt = raw.indexOf('//');
    const comment = commentAt >= 0 ? raw.slice(commentAt + 2).trim() : '';
    const line = (commentAt >= 0 ? raw.slice(0, commentAt) : raw).trim();
    if (!line) continue;
    if (block !== undefined) {
      if (line === ')') { block = undefined; continue; }
      entry(mod, block, tokens(line), comment);
      continue;
    }
    const t = tokens(line);
    const verb = t[0] ?? '';
    if (t[1] === '(' && t.length === 2) { block = verb; continue; }
    entry(mod, verb, t.slice(1), comment);
  }
  return mod;
}

function entry(mod: GoMod, verb: string, t: string[], comment: string): void {
  switch (verb) {
    case 'module': mod.module = t[0]; break;
    case 'go': mod.go = t[0]; break;
    case 'toolchain': mod.toolchain = t[0]; break;
    case 'godebug': if (t.length) mod.godebug.push(t.join(' ')); break;
    case 'require':
      if (t[0] && t[1]) mod.require.push({ path: t[0], version: t[1], indirect: /(^|;)\s*indirect\b/.test(comment) });
      break;
    case 'replace': {
      const arrow = t.indexOf('=>');
      if (arrow < 1) break;
      const [from, fromVersion] = t.slice(0, arrow);
      const [to, toVersion] = t.slice(arrow + 1);
      if (from && to) mod.replace.push({ from, fromVersion, to, toVersion });
      break;
    }
    default: break;
  }
}

/** A replacement target that is a directory (./x, ../x, /x) rather than a module path. */
export function isLocalPath(p: string): boolean {
  return p.startsWith('./') || p.startsWith('../') || p.startsWith('/') || p === '.' || p === '..';
}
