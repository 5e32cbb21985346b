import { describe, expect, it } from 'vitest';
import { quorum, quorumTable } from './quorum.ts';

describe('quorum', () => {
  it.each([
    [1, 1, 0],
    [2, 2, 0],
    [3, 2, 1],
    [4, 3, 1],
    [5, 3, 2],
    [6, 4, 2],
    [7, 4, 3],
    [9, 5, 4],
  ])('%i members: majority %i, tolerates %i', (members, majority, tolerated) => {
    expect(quorum(members)).toEqual({ members, majority, tolerated });
  });

  it('gives zero for no members and refuses nonsense', () => {
    expect(quorum(0)).toEqual({ members: 0, majority: 0, tolerated: 0 });
    expect(() => quorum(-1)).toThrow(RangeError);
    expect(() => quorum(2.5)).toThrow(RangeError);
  });
});

describe('quorumTable', () => {
  it('is the article table for 1..7 by default', () => {
    expect(quorumTable()).toEqual([
      { members: 1, majority: 1, tolerated: 0 },
      { members: 2, majority: 2, tolerated: 0 },
      { members: 3, majority: 2, tolerated: 1 },
      { members: 4, majority: 3, tolerated: 1 },
      { members: 5, majority: 3, tolerated: 2 },
      { members: 6, majority: 4, tolerated: 2 },
      { members: 7, majority: 4, tolerated: 3 },
    ]);
  });

  it('takes another size', () => {
    expect(quorumTable(9).map((q) => q.tolerated)).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4]);
    expect(() => quorumTable(0)).toThrow(RangeError);
  });
});
