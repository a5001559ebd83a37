// The shape of every named refusal: callers match on `code` (stable across versions), people
// read `message`, and the error's name is its code, so the CLI prints `Code: message`.

export class CodedError<C extends string> extends Error {
  constructor(
    readonly code: C,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}
