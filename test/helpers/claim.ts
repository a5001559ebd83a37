// A server claimed on the fixture inventory (test/fixtures/inventory.yaml): project web,
// facility lab1, plan c3.small, the owner as hostname; `over` changes any of it.
import { claimServer, type ClaimRequest } from "../../provider/store/servers-sql";
import type { Store } from "../../provider/store/store";

export const claim = (store: Store, owner: string, over: Partial<ClaimRequest> = {}) =>
  store.transact((at) =>
    claimServer(
      {
        id: `srv-${owner}`,
        owner,
        project: "web",
        facility: "lab1",
        plan: "c3.small",
        hostname: owner,
        spec: {},
        ...over,
      },
      "tester",
      at,
    ),
  );
