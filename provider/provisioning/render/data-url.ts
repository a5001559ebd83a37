// A data URL as Ignition decodes one (github.com/vincent-petithory/dataurl, RFC 2397): what it
// refuses. A hand-written `data:,hello world` (a space) or base64 without its padding stops the
// machine's first boot; here it is refused at preview.
import { escapesValid } from "./go-url";

const TSPECIALS = new Set('()<>@,;:\\"/[]?=');
const isToken = (c: string) => c > " " && c < "\x7f" && !TSPECIALS.has(c);
// RFC 2396's delims and unwise characters, and controls, are not URL characters.
const NOT_URL_CHAR = new Set(' <>#"{}|\\^[]`');
const isUrlChar = (c: string) => c >= " " && c < "\x7f" && !NOT_URL_CHAR.has(c);
const MEDIA_TYPES = ["text", "image", "audio", "video", "application", "message", "multipart"];

/** Why the decoder refuses `url`, or undefined when it decodes. */
export function dataUrlProblem(url: string): string | undefined {
  if (!url.startsWith("data:")) return "data URL must start with data: in lower case";
  const comma = dataComma(url);
  if (comma < 0) return "data URL has no comma before its data";
  const header = url.slice(5, comma);
  const data = url.slice(comma + 1);

  // [type/subtype] then ;attribute=value parameters, the last of which may be `base64`.
  const [mediaType = "", ...params] = splitParams(header);
  if (mediaType !== "") {
    const slash = mediaType.indexOf("/");
    const type = slash < 0 ? mediaType : mediaType.slice(0, slash);
    if (slash < 0) return "data URL media type has no slash";
    if (![...mediaType.slice(0, slash), ...mediaType.slice(slash + 1)].every(isToken))
      return "invalid character in the data URL's media type";
    if (!type.toLowerCase().startsWith("x-") && !MEDIA_TYPES.some((t) => type.startsWith(t)))
      return `invalid data URL media type ${type}`;
  }
  let base64 = false;
  for (const [i, param] of params.entries()) {
    if (param === undefined) return "unterminated data URL parameter";
    const eq = param.indexOf("=");
    if (eq < 0) {
      if (param !== "base64" || i !== params.length - 1 || ![...param].every(isToken))
        return `data URL parameter ${param} has no value (only a last base64 may have none)`;
      base64 = true;
      continue;
    }
    const [attr, value] = [param.slice(0, eq), param.slice(eq + 1)];
    if (attr === "" || ![...attr].every(isToken)) return "invalid character in a data URL parameter";
    const problem = paramValueProblem(value);
    if (problem) return problem;
  }

  if (base64) {
    const text = data.replace(/\n/g, "");
    if (
      !/^[A-Za-z0-9+/=\n]*$/.test(data) ||
      !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)
    )
      return "data URL's base64 data is not valid (padded standard base64)";
    return undefined;
  }
  if (![...data].every(isUrlChar))
    return 'data URL data has a character that must be %-escaped (a space, <>#"{}|\\^[]` or a control)';
  return escapesValid(data) ? undefined : "data URL has a % not followed by two hex digits";
}

/**
 * The header split at `;`, where a quoted value may hold one. An unterminated quote or a
 * `;` left dangling is an undefined entry.
 */
function splitParams(header: string): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  let current = "";
  for (let i = 0; i < header.length; i++) {
    const c = header[i]!;
    if (c === '"' && current.endsWith("=")) {
      const end = closingQuote(header, i + 1);
      if (end < 0) return [...out, current, undefined];
      current += header.slice(i, end + 1);
      i = end;
    } else if (c === ";") {
      out.push(current);
      current = "";
    } else current += c;
  }
  out.push(current);
  return out.map((p, i) => (i > 0 && p === "" ? undefined : p));
}

/** The comma that ends the header: one inside a quoted parameter value does not. */
function dataComma(url: string): number {
  for (let i = 5; i < url.length; i++) {
    if (url[i] === '"' && url[i - 1] === "=") {
      const end = closingQuote(url, i + 1);
      if (end < 0) return -1;
      i = end;
    } else if (url[i] === ",") return i;
  }
  return -1;
}

function closingQuote(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === '"') return i;
  }
  return -1;
}

function paramValueProblem(value: string): string | undefined {
  if (value.startsWith('"')) {
    const inner = value.slice(1, -1);
    if (!value.endsWith('"') || value.length < 2) return "data URL parameter value has an unclosed quote";
    // Go's strconv.Unquote: ASCII, no newline, known escapes only.
    if ([...inner].some((c) => c > "\x7f" || c === "\n"))
      return "invalid character in a quoted data URL parameter value";
    const escape = /\\(?:[abfnrtv\\"]|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[0-3][0-7]{2})|\\/g;
    for (const m of inner.matchAll(escape))
      if (m[0] === "\\") return "invalid escape in a data URL parameter value";
    return undefined;
  }
  if (value === "" || ![...value].every(isToken)) return "invalid character in a data URL parameter value";
  return escapesValid(value) ? undefined : "data URL parameter value has a % not followed by two hex digits";
}
