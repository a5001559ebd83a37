// Input fields several resources share, with the same words in their errors.
import { z } from "zod";

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** A project, facility, plan or machine name. */
export const nameField = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .regex(
      NAME,
      `${what} must be 1-63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
