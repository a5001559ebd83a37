// Input fields several resources share, with the same words in their errors.
import { z } from "zod";
import { NAME, NAME_RULE } from "../names";

/** A project, facility, plan or machine name. */
export const nameField = (what: string) =>
  z.string({ error: `${what} must be a string` }).regex(NAME, `${what} must be ${NAME_RULE}`);

// PostgreSQL's text and JSON cannot hold NUL; refused here, by field, on every store.
const noNul = (v: string) => !v.includes("\0");

/** Free-form labels a resource keeps: at most 64 of 256 characters. */
export const tagsField = z
  .array(z.string().max(256).refine(noNul, { error: "a tag may not contain a NUL character" }))
  .max(64)
  .default([]);

export const descriptionField = z
  .string()
  .max(1024)
  .refine(noNul, { error: "description may not contain a NUL character" })
  .optional();
