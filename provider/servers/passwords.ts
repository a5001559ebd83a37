// Root passwords: made here, returned once as a Pulumi secret, and handed to the OS only as a
// SHA-512 crypt hash ($6$, what cloud-init, Ignition and /etc/shadow take). The hash is
// Drepper's SHA-crypt (glibc's), written out because no maintained CommonJS package offers it;
// test/unit/passwords.test.ts checks it against the specification's vectors.
import { createHash, hash, randomBytes, type Hash } from "node:crypto";

const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ORDER = [
  [0, 21, 42],
  [22, 43, 1],
  [44, 2, 23],
  [3, 24, 45],
  [25, 46, 4],
  [47, 5, 26],
  [6, 27, 48],
  [28, 49, 7],
  [50, 8, 29],
  [9, 30, 51],
  [31, 52, 10],
  [53, 11, 32],
  [12, 33, 54],
  [34, 55, 13],
  [56, 14, 35],
  [15, 36, 57],
  [37, 58, 16],
  [59, 17, 38],
  [18, 39, 60],
  [40, 61, 19],
  [62, 20, 41],
] as const;

const sha512 = () => createHash("sha512");
const digest = (h: Hash) => h.digest();

/** `len` bytes of `block` repeated. */
function repeat(block: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i += block.length) block.copy(out, i, 0, Math.min(block.length, len - i));
  return out;
}

export function sha512Crypt(password: string, salt: string, rounds = 5000): string {
  const p = Buffer.from(password, "utf8");
  const s = Buffer.from(salt.slice(0, 16), "utf8");
  const b = digest(sha512().update(p).update(s).update(p));
  const a = sha512().update(p).update(s).update(repeat(b, p.length));
  for (let n = p.length; n > 0; n >>= 1) a.update(n & 1 ? b : p);
  let c = digest(a);
  const dp = sha512();
  for (let i = 0; i < p.length; i++) dp.update(p);
  const pSeq = repeat(digest(dp), p.length);
  const ds = sha512();
  for (let i = 0; i < 16 + c[0]!; i++) ds.update(s);
  const sSeq = repeat(digest(ds), s.length);
  // A round hashes, in one buffer with the one-shot hash (a Hash object per round cost about
  // twice as much CPU), the last digest and the password and salt sequences in one of eight
  // layouts (odd or even round, a multiple of 3 or not, of 7 or not). The eight are laid out
  // once, so a round only writes the digest into its place: assembling the parts each round
  // cost as much as hashing, most of all in the first hashes of a process, before the JIT.
  const layouts = [0, 1, 2, 3, 4, 5, 6, 7].map((k) => {
    const odd = k & 4;
    const parts = [sSeq, pSeq].filter((_, j) => k & (2 >> j));
    const buf = Buffer.concat(odd ? [pSeq, ...parts, c] : [c, ...parts, pSeq]);
    return { buf, at: odd ? buf.length - c.length : 0 };
  });
  for (let i = 0; i < rounds; i++) {
    const l = layouts[(i & 1 ? 4 : 0) | (i % 3 ? 2 : 0) | (i % 7 ? 1 : 0)]!;
    l.buf.set(c, l.at);
    c = hash("sha512", l.buf, "buffer");
  }
  let out = "";
  const b64 = (b2: number, b1: number, b0: number, n: number) => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let i = 0; i < n; i++, w >>= 6) out += ITOA64[w & 0x3f];
  };
  for (const [x, y, z] of ORDER) b64(c[x]!, c[y]!, c[z]!, 4);
  b64(0, 0, c[63]!, 2);
  const roundsPart = rounds === 5000 ? "" : `rounds=${rounds}$`;
  return `$6$${roundsPart}${s.toString("utf8")}$${out}`;
}

/** 24 random characters from a 62-letter alphabet: about 143 bits. */
export function newRootPassword(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return [...randomBytes(24)].map((x) => alphabet[x % alphabet.length]).join("");
}

/**
 * 1000 rounds, the minimum the scheme allows: rounds slow down guessing weak passwords, and
 * ours are 143 random bits; at the default 5000 one hash would cost ~7 ms of the provider's
 * CPU per server.
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = [...randomBytes(16)].map((x) => ITOA64[x % 64]).join("");
  return sha512Crypt(password, salt, 1000);
}
