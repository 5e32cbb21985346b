// etcd quorum arithmetic: a cluster of n members needs a majority of floor(n/2)+1 to commit
// anything, so it survives floor((n-1)/2) failed members. Even sizes add a member without adding
// tolerance (4 tolerates 1, like 3).

import type { QuorumFigures } from '../api/types.ts';

/** Majority and tolerated failures of an etcd cluster of `members` (a whole number ≥ 0). */
export function quorum(members: number): QuorumFigures {
  if (!Number.isInteger(members) || members < 0) {
    throw new RangeError(`quorum: members must be a whole number ≥ 0, got ${members}`);
  }
  if (members === 0) return { members: 0, majority: 0, tolerated: 0 };
  return { members, majority: Math.floor(members / 2) + 1, tolerated: Math.floor((members - 1) / 2) };
}

/** The failure-tolerance table for 1..maxN members. */
export function quorumTable(maxN = 7): QuorumFigures[] {
  if (!Number.isInteger(maxN) || maxN < 1)
    throw new RangeError(`quorumTable: maxN must be a whole number ≥ 1, got ${maxN}`);
  return Array.from({ length: maxN }, (_, i) => quorum(i + 1));
}
