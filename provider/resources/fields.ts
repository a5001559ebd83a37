// Input fields several resources share, with the same words in their errors.
import { z } from "zod";
import { NAME, NAME_RULE } from "../names";

/** A project, facility, plan or machine name. */
export const nameField = (what: string) =>
  z.string({ error: `${what} must be a string` }).regex(NAME, `${what} must be ${NAME_RULE}`);
