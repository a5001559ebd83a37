// Buddy-system steps shared by every store backend. A pool is a tree of aligned blocks; free
// space is kept as the set of maximal free blocks, one row each. Allocating splits one free
// block down to the asked size; freeing merges a block with its free buddy, level by level.
import { Block, buddyOf, contains, truncate } from "./cidr";

/**
 * Splits `free` down to a block of `prefix` containing `target` (or, without a target, its
 * lowest such block). Returns the block taken and the halves left free on the way down.
 */
export function splitDown(
  free: Block,
  prefix: number,
  target?: Block,
): { taken: Block; remainders: Block[] } {
  const want = target ? truncate(target, prefix) : { family: free.family, network: free.network, prefix };
  if (!contains(free, want))
    throw new Error(`internal: ${want.network}/${prefix} is not inside the free block`);
  const remainders: Block[] = [];
  for (let p = free.prefix + 1; p <= prefix; p++) {
    remainders.push(buddyOf(truncate(want, p)));
  }
  return { taken: want, remainders };
}

/**
 * Merges a freed block upwards while its buddy is free, stopping at the pool's own size.
 * `takeFreeBuddy` removes the buddy from the free set and says whether it was there.
 */
export function mergeUp(freed: Block, poolPrefix: number, takeFreeBuddy: (buddy: Block) => boolean): Block {
  let block = freed;
  while (block.prefix > poolPrefix && takeFreeBuddy(buddyOf(block))) {
    block = truncate(block, block.prefix - 1);
  }
  return block;
}
