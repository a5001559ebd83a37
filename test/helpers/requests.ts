// An allocation request as most store tests make one: a /29 of lab1's private IPv4, untagged,
// with no owner; `over` changes what a test is about.
import type { AllocateRequest } from "../../provider/store/store";

export const allocateRequest = (over: Partial<AllocateRequest> = {}): AllocateRequest => ({
  project: "demo",
  type: "private_ipv4",
  facility: "lab1",
  block: { prefixLength: 29 },
  tags: [],
  description: null,
  owner: null,
  actor: "test",
  ...over,
});
